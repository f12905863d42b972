// The operator dashboard's serving: routes (Node), the shared header policy, and the files port.
// node-files.ts is left out: it uses node:fs, and this module is in the Worker's bundle.
export { registerUiRoutes } from "./routes";
export { isSafeUiPath, type UiFiles } from "./files";
export { UI_CSP, workersHeadersFile } from "./policy";
