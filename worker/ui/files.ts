// The dashboard's built files, as a port the runtime fills in: Node reads web/dist/ui from disk
// (node-files.ts); on Workers the static-assets router serves the same files before the Worker runs.

export interface UiFiles {
  /** The file at `path` relative to the build ("index.html", "assets/index-3f2a.js"), or null when there is none. */
  read(path: string): Promise<Uint8Array | null>;
}

/** Names a build produces: no "..", no leading or doubled slash, nothing a shell or URL would treat specially. */
const SAFE_PATH = /^(?!.*\.\.)[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

/** Whether a request's path (below /ui/) can name a file of the build; anything else is answered 404 unread. */
export function isSafeUiPath(path: string): boolean {
  return path.length <= 200 && SAFE_PATH.test(path);
}

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  woff2: "font/woff2",
};

export function contentTypeOf(path: string): string {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? "application/octet-stream";
}
