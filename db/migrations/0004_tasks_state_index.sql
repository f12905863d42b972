DROP INDEX `tasks_state_expiry`;--> statement-breakpoint
CREATE INDEX `tasks_state` ON `tasks` (`state`);