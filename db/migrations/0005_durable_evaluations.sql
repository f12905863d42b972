CREATE TABLE `evaluations` (
	`job_id` text PRIMARY KEY NOT NULL,
	`triggers` text NOT NULL,
	`due_at` integer NOT NULL,
	`generation` integer DEFAULT 1 NOT NULL,
	`claimed_by` text,
	`claimed_until` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `evaluations_due` ON `evaluations` (`due_at`);--> statement-breakpoint
ALTER TABLE `tasks` ADD `start_first` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `healthy_at` integer;