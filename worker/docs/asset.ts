// A file the docs page loads, carried in the code itself so every runtime serves it without a filesystem.

export interface DocsAsset {
  /** The last segment of the path it is served under. */
  name: string;
  contentType: string;
  /** Base64 SHA-256 of the UTF-8 text: the page's subresource-integrity value, and the ETag. */
  sha256: string;
  text: string;
}
