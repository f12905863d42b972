-- Placement guards: the database itself refuses a placement that would over-commit a node
-- (cpu, memory, static host ports) or land on a node that is not ready, eligible and undrained.
-- Two control-plane instances that both think a node has room cannot both commit: the second
-- batch aborts and its evaluation retries on fresh state.
CREATE TRIGGER tasks_guard_insert BEFORE INSERT ON tasks
WHEN NEW.node_id IS NOT NULL AND NEW.state IN ('placed', 'leased', 'running')
BEGIN
  SELECT RAISE(ABORT, 'placement refused: node not schedulable')
  WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = NEW.node_id AND n.status = 'ready' AND n.eligible = 1 AND n.drain_deadline IS NULL);
  SELECT RAISE(ABORT, 'placement refused: node over-committed')
  WHERE (SELECT coalesce(sum(t.cpu), 0) FROM tasks t WHERE t.node_id = NEW.node_id AND t.state IN ('placed', 'leased', 'running')) + NEW.cpu
          > (SELECT n.cpu FROM nodes n WHERE n.id = NEW.node_id)
     OR (SELECT coalesce(sum(t.memory), 0) FROM tasks t WHERE t.node_id = NEW.node_id AND t.state IN ('placed', 'leased', 'running')) + NEW.memory
          > (SELECT n.memory FROM nodes n WHERE n.id = NEW.node_id);
  SELECT RAISE(ABORT, 'placement refused: host port in use')
  WHERE NEW.host_ports != '[]' AND EXISTS (
    SELECT 1 FROM tasks t, json_each(t.host_ports) a, json_each(NEW.host_ports) b
    WHERE t.node_id = NEW.node_id AND t.state IN ('placed', 'leased', 'running') AND a.value = b.value);
END;
--> statement-breakpoint
CREATE TRIGGER tasks_guard_move BEFORE UPDATE OF node_id, state ON tasks
WHEN NEW.node_id IS NOT NULL AND NEW.state IN ('placed', 'leased', 'running')
  AND (OLD.node_id IS NOT NEW.node_id OR OLD.state NOT IN ('placed', 'leased', 'running'))
BEGIN
  SELECT RAISE(ABORT, 'placement refused: node not schedulable')
  WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = NEW.node_id AND n.status = 'ready' AND n.eligible = 1 AND n.drain_deadline IS NULL);
  SELECT RAISE(ABORT, 'placement refused: node over-committed')
  WHERE (SELECT coalesce(sum(t.cpu), 0) FROM tasks t WHERE t.node_id = NEW.node_id AND t.id != NEW.id AND t.state IN ('placed', 'leased', 'running')) + NEW.cpu
          > (SELECT n.cpu FROM nodes n WHERE n.id = NEW.node_id)
     OR (SELECT coalesce(sum(t.memory), 0) FROM tasks t WHERE t.node_id = NEW.node_id AND t.id != NEW.id AND t.state IN ('placed', 'leased', 'running')) + NEW.memory
          > (SELECT n.memory FROM nodes n WHERE n.id = NEW.node_id);
  SELECT RAISE(ABORT, 'placement refused: host port in use')
  WHERE NEW.host_ports != '[]' AND EXISTS (
    SELECT 1 FROM tasks t, json_each(t.host_ports) a, json_each(NEW.host_ports) b
    WHERE t.node_id = NEW.node_id AND t.id != NEW.id AND t.state IN ('placed', 'leased', 'running') AND a.value = b.value);
END;
