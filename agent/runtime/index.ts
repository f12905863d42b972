// The agent's container runtime: the port, its Docker adapter and the ownership labels.
export { ContainerRuntimeError } from "./container-runtime";
export type {
  CommandResult,
  ContainerDetails,
  ContainerEvent,
  ContainerEventAction,
  ContainerInspection,
  ContainerRuntime,
  ContainerRuntimeErrorCode,
  ContainerSpec,
  ContainerState,
  ContainerStatsSample,
  ContainerSummary,
  ExecResult,
  FileMount,
  HostPort,
  LogFollow,
  LogFollowHandlers,
  LogOptions,
  LogStreamKind,
  NetworkInfo,
  NetworkRemoval,
  NetworkSpec,
  PortMapping,
  PortProtocol,
  StartedContainer,
  StopOutcome,
  StopResult,
  Unsubscribe,
} from "./container-runtime";
export { createDockerRuntime } from "./docker-runtime";
export type { DockerRuntimeOptions, ImagePull } from "./docker-runtime";
export { statsSampleOf } from "./docker-stats";
export {
  LABELS,
  LABEL_PREFIX,
  containerName,
  nodeSelector,
  ownerSelector,
  networkLabels,
  ownedLabels,
  parseRestoreLabel,
  parseTaskLabels,
  taskLabels,
} from "./labels";
export type { JsonObject, JsonValue, LabelKey, NetworkServes, NodeOwner, TaskIdentity } from "./labels";
