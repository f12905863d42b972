ALTER TABLE `nodes` ADD `work_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `nodes_work_seq` ON `nodes` (`work_seq`);