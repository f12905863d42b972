CREATE TABLE `api_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`subject` text NOT NULL,
	`roles` text NOT NULL,
	`expires_at` integer NOT NULL,
	`revoked_at` integer,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`namespace` text,
	`target` text,
	`detail` text
);
--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`namespace` text,
	`job_id` text,
	`task_id` text,
	`node_id` text,
	`type` text NOT NULL,
	`message` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_job` ON `events` (`job_id`,`id`);--> statement-breakpoint
CREATE INDEX `events_task` ON `events` (`task_id`);--> statement-breakpoint
CREATE TABLE `job_versions` (
	`job_id` text NOT NULL,
	`version` integer NOT NULL,
	`spec` text NOT NULL,
	`spec_hash` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`job_id`, `version`),
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`version` integer NOT NULL,
	`spec_hash` text NOT NULL,
	`modify_index` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`namespace`) REFERENCES `namespaces`(`name`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_namespace_name` ON `jobs` (`namespace`,`name`);--> statement-breakpoint
CREATE TABLE `join_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`hash` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`region` text,
	`max_uses` integer,
	`uses` integer DEFAULT 0 NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `join_tokens_hash_unique` ON `join_tokens` (`hash`);--> statement-breakpoint
CREATE TABLE `log_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`node_id` text NOT NULL,
	`tail` integer NOT NULL,
	`status` text NOT NULL,
	`output` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `log_requests_node` ON `log_requests` (`node_id`,`status`);--> statement-breakpoint
CREATE TABLE `namespaces` (
	`name` text PRIMARY KEY NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`region` text NOT NULL,
	`labels` text NOT NULL,
	`cpu` integer NOT NULL,
	`memory` integer NOT NULL,
	`port_min` integer DEFAULT 20000 NOT NULL,
	`port_max` integer DEFAULT 32000 NOT NULL,
	`status` text NOT NULL,
	`eligible` integer DEFAULT true NOT NULL,
	`drain_deadline` integer,
	`last_heartbeat_at` integer,
	`credential_generation` integer DEFAULT 1 NOT NULL,
	`agent_version` text,
	`join_token_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_name` ON `nodes` (`name`);--> statement-breakpoint
CREATE INDEX `nodes_status_heartbeat` ON `nodes` (`status`,`last_heartbeat_at`);--> statement-breakpoint
CREATE TABLE `secrets` (
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`version` integer NOT NULL,
	`ciphertext` text NOT NULL,
	`iv` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `name`, `version`)
);
--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`namespace` text NOT NULL,
	`slot` integer NOT NULL,
	`version` integer NOT NULL,
	`node_id` text,
	`state` text NOT NULL,
	`desired` text DEFAULT 'run' NOT NULL,
	`epoch` integer DEFAULT 1 NOT NULL,
	`lease_expires_at` integer,
	`cpu` integer NOT NULL,
	`memory` integer NOT NULL,
	`host_ports` text DEFAULT '[]' NOT NULL,
	`bound_ports` text DEFAULT '[]' NOT NULL,
	`health` text,
	`exit_code` integer,
	`restarts` integer DEFAULT 0 NOT NULL,
	`attempt` integer DEFAULT 0 NOT NULL,
	`lost_at` integer,
	`message` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `tasks_job` ON `tasks` (`job_id`,`slot`);--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_live_slot` ON `tasks` (`job_id`,`slot`) WHERE desired = 'run';--> statement-breakpoint
CREATE INDEX `tasks_node_state` ON `tasks` (`node_id`,`state`);--> statement-breakpoint
CREATE INDEX `tasks_state_expiry` ON `tasks` (`state`,`lease_expires_at`);