// Minimal SQLite tokenizer for the test Hrana server: parameter slots, statement count and EXPLAIN detection.

export interface SqlParam {
  /** 1-based SQLite parameter index. */
  index: number;
  /** Parameter name including its sigil (":a", "@a", "$a", "?3"), or null for a bare "?". */
  name: string | null;
}

export interface SqlScan {
  /** Parameters of the first statement, in order of first appearance. */
  params: SqlParam[];
  /** Highest parameter index of the first statement (SQLite's sqlite3_bind_parameter_count). */
  paramCount: number;
  /** Number of statements in the text, capped at 2 ("many"). */
  statements: 0 | 1 | 2;
  /** True when the first statement starts with EXPLAIN. */
  isExplain: boolean;
}

type Token = "semi" | "ws" | "other" | "explain" | "create" | "temp" | "trigger" | "end";

// Transition table of SQLite's sqlite3_complete(): a statement ends when a ";" moves the machine
// back to START, which it does not do inside CREATE TRIGGER ... BEGIN ...; END.
const TOKENS: readonly Token[] = ["semi", "ws", "other", "explain", "create", "temp", "trigger", "end"];
const TRANSITIONS: readonly (readonly number[])[] = [
  /* 0 INVALID */ [1, 0, 2, 3, 4, 2, 2, 2],
  /* 1 START   */ [1, 1, 2, 3, 4, 2, 2, 2],
  /* 2 NORMAL  */ [1, 2, 2, 2, 2, 2, 2, 2],
  /* 3 EXPLAIN */ [1, 3, 3, 2, 4, 2, 2, 2],
  /* 4 CREATE  */ [1, 4, 2, 2, 2, 4, 5, 2],
  /* 5 TRIGGER */ [6, 5, 5, 5, 5, 5, 5, 5],
  /* 6 SEMI    */ [6, 6, 5, 5, 5, 5, 5, 7],
  /* 7 END     */ [1, 7, 5, 5, 5, 5, 5, 5],
];

const KEYWORDS: ReadonlyMap<string, Token> = new Map<string, Token>([
  ["explain", "explain"],
  ["create", "create"],
  ["temp", "temp"],
  ["temporary", "temp"],
  ["trigger", "trigger"],
  ["end", "end"],
]);

function isIdentStart(ch: string): boolean {
  return /[A-Za-z_]/.test(ch) || ch.charCodeAt(0) >= 0x80;
}

function isIdentChar(ch: string): boolean {
  return /[A-Za-z0-9_$]/.test(ch) || ch.charCodeAt(0) >= 0x80;
}

export function scanSql(sql: string): SqlScan {
  const params: SqlParam[] = [];
  const named = new Map<string, number>();
  let paramCount = 0;
  let state = 0;
  let statements: 0 | 1 | 2 = 0;
  let inFirst = true; // still inside the first statement
  let firstKeyword = "";
  let i = 0;
  const n = sql.length;

  const feed = (token: Token, word = ""): void => {
    state = TRANSITIONS[state]?.[TOKENS.indexOf(token)] ?? 2;
    if (token !== "ws" && token !== "semi" && statements === 0) {
      statements = 1;
      firstKeyword = word;
    }
    if (token !== "ws" && token !== "semi" && !inFirst && statements === 1) statements = 2;
    if (token === "semi" && state === 1 && statements === 1) inFirst = false;
  };

  const addParam = (name: string | null, explicitIndex: number | null): void => {
    if (!inFirst) return;
    let index: number;
    if (explicitIndex !== null) {
      index = explicitIndex;
    } else if (name !== null) {
      const seen = named.get(name);
      if (seen !== undefined) return;
      index = paramCount + 1;
      named.set(name, index);
    } else {
      index = paramCount + 1;
    }
    paramCount = Math.max(paramCount, index);
    params.push({ index, name });
  };

  while (i < n) {
    const ch = sql.charAt(i);
    if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || ch === "\f") {
      i++;
      feed("ws");
    } else if (ch === "-" && sql.charAt(i + 1) === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
      feed("ws");
    } else if (ch === "/" && sql.charAt(i + 1) === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      feed("ws");
    } else if (ch === "'" || ch === '"' || ch === "`") {
      let j = i + 1;
      for (;;) {
        if (j >= n) break;
        if (sql.charAt(j) === ch) {
          if (sql.charAt(j + 1) === ch) {
            j += 2;
            continue;
          }
          j++;
          break;
        }
        j++;
      }
      i = j;
      feed("other");
    } else if (ch === "[") {
      const end = sql.indexOf("]", i);
      i = end < 0 ? n : end + 1;
      feed("other");
    } else if (ch === ";") {
      i++;
      feed("semi");
    } else if (ch === "?") {
      let j = i + 1;
      while (j < n && /[0-9]/.test(sql.charAt(j))) j++;
      if (j > i + 1) {
        const text = sql.slice(i, j);
        addParam(text, Number(text.slice(1)));
      } else {
        addParam(null, null);
      }
      i = j;
      feed("other");
    } else if ((ch === ":" || ch === "@" || ch === "$" || ch === "#") && i + 1 < n && isIdentChar(sql.charAt(i + 1))) {
      let j = i + 1;
      for (;;) {
        if (j < n && isIdentChar(sql.charAt(j))) {
          j++;
        } else if (ch === "$" && sql.startsWith("::", j)) {
          j += 2;
        } else {
          break;
        }
      }
      addParam(sql.slice(i, j), null);
      i = j;
      feed("other");
    } else if (isIdentStart(ch)) {
      let j = i + 1;
      while (j < n && isIdentChar(sql.charAt(j))) j++;
      const word = sql.slice(i, j).toLowerCase();
      i = j;
      feed(KEYWORDS.get(word) ?? "other", word);
    } else {
      i++;
      feed("other");
    }
  }

  return { params, paramCount, statements, isExplain: firstKeyword === "explain" };
}
