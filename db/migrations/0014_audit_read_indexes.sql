CREATE INDEX `audit_at` ON `audit` (`at`);--> statement-breakpoint
CREATE INDEX `audit_namespace_at` ON `audit` (`namespace`,`at`);--> statement-breakpoint
CREATE INDEX `audit_actor_at` ON `audit` (`actor`,`at`);