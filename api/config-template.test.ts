import { describe, expect, it } from "vitest";
import { fillUpstreams, parseTemplate, renderTemplate, templateSecrets, templateUpstreams, TemplateError } from "./config-template";

const values = { job: "web", namespace: "prod", slot: "2", version: "7", region: "eu", node: "host-a" };

describe("config templates", () => {
  it("render the task's values, secrets and literal text", () => {
    const parts = parseTemplate('name={{ job }}.{{namespace}} slot={{ slot }} v{{ version }} at {{ region }}/{{ node }}\npassword={{ secret "db-password" }}\nbraces={{ "{{" }} and {{ "a \\"q\\" }}" }}\n');
    expect(templateSecrets(parts)).toEqual(["db-password"]);
    expect(renderTemplate(parts, values, (n) => `<${n}>`)).toEqual([{ text: 'name=web.prod slot=2 v7 at eu/host-a\npassword=<db-password>\nbraces={{ and a "q" }}\n' }]);
  });

  it("pass text without holes through unchanged, single braces included", () => {
    const text = "a { b } c }} d {";
    expect(renderTemplate(parseTemplate(text), values, () => "")).toEqual([{ text }]);
    expect(renderTemplate(parseTemplate(""), values, () => "")).toEqual([]);
  });

  it("leave upstream holes to the agent as segments, and the agent fills in each address", () => {
    const parts = parseTemplate('backend = {{upstream "web"}} # {{ job }}\ncache = {{ upstream "cache" }}\nagain = {{ upstream "web" }}');
    expect(templateUpstreams(parts)).toEqual(["web", "cache"]);
    const segments = renderTemplate(parts, values, () => "");
    expect(segments).toEqual([{ text: "backend = " }, { upstream: "web" }, { text: " # web\ncache = " }, { upstream: "cache" }, { text: "\nagain = " }, { upstream: "web" }]);
    const addresses: Record<string, string> = { web: "172.18.0.1:9000", cache: "172.18.0.1:9001" };
    expect(fillUpstreams(segments, (s) => addresses[s]!)).toBe("backend = 172.18.0.1:9000 # web\ncache = 172.18.0.1:9001\nagain = 172.18.0.1:9000");
  });

  it("never parse what they rendered: a secret's value that reads like a hole stays as it is", () => {
    const value = '{{ upstream "web" }} {{ secret "other" }} {{ job }}';
    const segments = renderTemplate(parseTemplate('a={{ secret "tricky" }} b={{ upstream "web" }}'), values, () => value);
    expect(segments).toEqual([{ text: `a=${value} b=` }, { upstream: "web" }]);
    expect(fillUpstreams(segments, () => "10.0.0.1:80")).toBe(`a=${value} b=10.0.0.1:80`);
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
    ['{{ env "HOME" }}', /is not one of .*upstream "service"/],
    ["{{ upstream web }}", /upstream takes one quoted name, as in \{\{ upstream "web" \}\}/],
    ['{{ upstream "Web_1" }}', /"Web_1" is not a service name/],
    ['{{ upstream "a" "b" }}', /upstream takes one quoted name/],
  ])("refuse %j", (source, message) => {
    expect(() => parseTemplate(source)).toThrow(TemplateError);
    expect(() => parseTemplate(source)).toThrow(message);
  });
});
