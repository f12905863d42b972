// A Swagger UI file the docs page loads, as the Worker knows it: its name and hash, never its text. The text
// is a static asset on Workers and read from swagger-ui-dist on Node, both checked against this.

export interface DocsAsset {
  /** The last segment of the path it is served under. */
  name: string;
  contentType: string;
  /** Base64 SHA-256 of the file's bytes: the page's subresource-integrity value, and the ETag. */
  sha256: string;
}
