// The API docs page, served by the control plane itself, and the Swagger UI files it loads (routes for
// Node; Workers serve them as static assets). node-files.ts is left out: it uses node:fs, and this module
// is in the Worker's bundle.
export { registerDocsRoutes, type DocsOptions } from "./routes";
export { DOCS_CSP, SWAGGER_UI_BASE, swaggerUiHeadersRules } from "./policy";
export { registerSwaggerUiRoutes, type SwaggerUiFile, type SwaggerUiFiles } from "./swagger-ui-routes";
export { SWAGGER_UI_VERSION, swaggerUiAssets } from "./swagger-ui.manifest";
export type { DocsAsset } from "./asset";
