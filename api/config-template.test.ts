import { describe, expect, it } from "vitest";
import { parseTemplate, renderTemplate, templateSecrets, TemplateError } from "./config-template";

const values = { job: "web", namespace: "prod", slot: "2", version: "7", region: "eu", node: "host-a" };

describe("config templates", () => {
  it("render the task's values, secrets and literal text", () => {
    const parts = parseTemplate('name={{ job }}.{{namespace}} slot={{ slot }} v{{ version }} at {{ region }}/{{ node }}\npassword={{ secret "db-password" }}\nbraces={{ "{{" }} and {{ "a \\"q\\" }}" }}\n');
    expect(templateSecrets(parts)).toEqual(["db-password"]);
    expect(renderTemplate(parts, values, (n) => `<${n}>`)).toBe('name=web.prod slot=2 v7 at eu/host-a\npassword=<db-password>\nbraces={{ and a "q" }}\n');
  });

  it("pass text without holes through unchanged, single braces included", () => {
    const text = "a { b } c }} d {";
    expect(renderTemplate(parseTemplate(text), values, () => "")).toBe(text);
  });

  it("list each secret once", () => {
    expect(templateSecrets(parseTemplate('{{ secret "a" }}{{ secret "b" }}{{ secret "a" }}'))).toEqual(["a", "b"]);
  });

  it.each([
    ["x {{ job", /line 1: "\{\{" is never closed/],
    ["ok\n{{ jobs }}", /line 2: \{\{ jobs \}\} is not one of/],
    ['{{ secret db }}', /secret takes one quoted name/],
    ['{{ secret "Bad_Name" }}', /"Bad_Name" is not a secret name/],
    ["{{ job\n}}", /never closed/],
    ['{{ env "HOME" }}', /is not one of/],
  ])("refuse %j", (source, message) => {
    expect(() => parseTemplate(source)).toThrow(TemplateError);
    expect(() => parseTemplate(source)).toThrow(message);
  });
});
