// Reading a Server-Sent Events body: fetch gives bytes, this gives messages (parsed by api/sse.ts, which the
// dashboard uses too).
import { SseParser, type SseMessage } from "../api/sse";

export { SseParser, type SseMessage };

/** The messages of an SSE response body, as they arrive; ends when the body does. */
export async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
