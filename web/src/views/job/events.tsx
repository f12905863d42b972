// A job's events, newest first, as they arrive.
import type { EventFeed } from "../../hooks/use-events";
import { EventTable } from "../events";
import { ProblemNote } from "../../components/problem";

export function JobEventsTab({ feed }: { feed: EventFeed }) {
  return (
    <>
      <ProblemNote error={feed.error} when="Events" />
      <EventTable events={feed.events} showJob={false} />
    </>
  );
}
