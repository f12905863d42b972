-- Work markers: a node's work_seq takes the next value of one store-wide sequence, in the transaction
-- that gives the node work, whatever statement or instance wrote it: a task placed on the node (a new
-- row, or a row moved to it at the next epoch), a copy it holds asked to stop, or a copy it holds moved
-- away in place (start-first). Writers are serialised, so a reader that saw the sequence up to N misses
-- no later change: each has a value above N. Renewals, claims and state reports set none of these
-- columns, so the hot paths never fire them.
CREATE TRIGGER tasks_work_placed AFTER INSERT ON tasks
WHEN NEW.node_id IS NOT NULL AND NEW.state = 'placed' AND NEW.desired = 'run'
BEGIN
  UPDATE nodes SET work_seq = (SELECT coalesce(max(work_seq), 0) + 1 FROM nodes) WHERE id = NEW.node_id;
END;
--> statement-breakpoint
CREATE TRIGGER tasks_work_moved AFTER UPDATE OF epoch ON tasks
WHEN NEW.node_id IS NOT NULL AND NEW.state = 'placed' AND NEW.desired = 'run'
BEGIN
  UPDATE nodes SET work_seq = (SELECT coalesce(max(work_seq), 0) + 1 FROM nodes) WHERE id = NEW.node_id;
  UPDATE nodes SET work_seq = (SELECT coalesce(max(work_seq), 0) + 1 FROM nodes)
  WHERE id = OLD.node_id AND OLD.node_id IS NOT NEW.node_id AND OLD.state IN ('leased', 'running');
END;
--> statement-breakpoint
CREATE TRIGGER tasks_work_stop AFTER UPDATE OF desired ON tasks
WHEN NEW.desired = 'stop' AND OLD.desired = 'run' AND NEW.node_id IS NOT NULL AND NEW.state IN ('leased', 'running')
BEGIN
  UPDATE nodes SET work_seq = (SELECT coalesce(max(work_seq), 0) + 1 FROM nodes) WHERE id = NEW.node_id;
END;
