// The API docs page and the Swagger UI files it loads, served by the control plane itself.
export { DOCS_CSP, registerDocsRoutes, type DocsOptions } from "./routes";
export { SWAGGER_UI_VERSION } from "./swagger-ui.generated";
