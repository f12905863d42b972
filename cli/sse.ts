// Server-sent events as the CLI reads them: text in, each message's data out (comment lines are skipped).

export function createSseParser(onData: (data: string) => void): { push(text: string): void } {
  let pending = "";
  return {
    push(text) {
      pending += text.replace(/\r\n?/g, "\n");
      for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""));
        if (data.length > 0) onData(data.join("\n"));
      }
    },
  };
}
