CREATE TABLE `deployments` (
	`id` text PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`namespace` text NOT NULL,
	`version` integer NOT NULL,
	`from_version` integer,
	`status` text NOT NULL,
	`description` text NOT NULL,
	`promoted` integer DEFAULT false NOT NULL,
	`wave` text,
	`waves_done` text DEFAULT '[]' NOT NULL,
	`healthy_count` integer DEFAULT 0 NOT NULL,
	`progress_deadline_at` integer,
	`offline_since` integer,
	`revert_of` text,
	`modify_index` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `deployments_job` ON `deployments` (`job_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `deployments_status` ON `deployments` (`status`);--> statement-breakpoint
ALTER TABLE `events` ADD `deployment_id` text;--> statement-breakpoint
CREATE INDEX `events_deployment` ON `events` (`deployment_id`);--> statement-breakpoint
ALTER TABLE `tasks` ADD `placed_at` integer;