// Operators' requests to this agent beyond log tails: log follows and execs.
export { createAgentRequests, type AgentRequests } from "./agent-requests";
export { ChunkQueue, type Chunk } from "./chunk-queue";
