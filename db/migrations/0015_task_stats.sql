CREATE TABLE `task_stats` (
	`task_id` text NOT NULL,
	`at` integer NOT NULL,
	`cpu_percent` real NOT NULL,
	`memory_bytes` integer NOT NULL,
	`memory_limit_bytes` integer,
	PRIMARY KEY(`task_id`, `at`),
	FOREIGN KEY (`task_id`) REFERENCES `tasks`(`id`) ON UPDATE no action ON DELETE cascade
);
