ALTER TABLE `api_tokens` ADD `permissions` text;--> statement-breakpoint
ALTER TABLE `deployments` ADD `cause` text;--> statement-breakpoint
ALTER TABLE `job_versions` ADD `secret_versions` text;--> statement-breakpoint
ALTER TABLE `nodes` ADD `encryption_key` text;--> statement-breakpoint
ALTER TABLE `secrets` ADD `key_id` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `secrets` ADD `bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `secrets` ADD `rollout` integer DEFAULT true NOT NULL;