CREATE TABLE `agent_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`namespace` text NOT NULL,
	`job_id` text NOT NULL,
	`task_id` text NOT NULL,
	`node_id` text NOT NULL,
	`status` text NOT NULL,
	`spec` text NOT NULL,
	`expires_at` integer NOT NULL,
	`next_seq` integer DEFAULT 0 NOT NULL,
	`result` text,
	`message` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `agent_requests_node` ON `agent_requests` (`node_id`,`status`);--> statement-breakpoint
CREATE INDEX `agent_requests_expires` ON `agent_requests` (`expires_at`);--> statement-breakpoint
CREATE TABLE `follow_chunks` (
	`follow_id` text NOT NULL,
	`seq` integer NOT NULL,
	`body` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`follow_id`, `seq`)
);
--> statement-breakpoint
CREATE INDEX `follow_chunks_created` ON `follow_chunks` (`created_at`);--> statement-breakpoint
ALTER TABLE `log_requests` ADD `since_ms` integer;--> statement-breakpoint
ALTER TABLE `log_requests` ADD `timestamps` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `log_requests` ADD `stream` text;