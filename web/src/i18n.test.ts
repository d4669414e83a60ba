import { describe, expect, it } from "vitest";

// The language files and the page's sources as text, as the build sees them.
const files = import.meta.glob<Record<string, unknown>>("./locales/*.json", { eager: true, import: "default" });
const sources = import.meta.glob<string>(["./**/*.vue", "./**/*.ts", "!./**/*.test.ts"], {
  eager: true,
  query: "?raw",
  import: "default",
});

/** Every message's dotted key with its text. */
function flatten(messages: Record<string, unknown>, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(messages)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === "object") {
      for (const [inner, text] of flatten(value as Record<string, unknown>, path)) out.set(inner, text);
    } else {
      out.set(path, String(value));
    }
  }
  return out;
}

/** `en.inbox.json` -> { code: "en", part: "inbox" }; `en.json` -> part "". */
function nameOf(path: string): { code: string; part: string } {
  const [code = "", ...rest] = path.replace(/^.*\//, "").replace(/\.json$/, "").split(".");
  return { code, part: rest.join(".") };
}

const english = new Map<string, Map<string, string>>();
for (const [path, messages] of Object.entries(files)) {
  const { code, part } = nameOf(path);
  if (code === "en") english.set(part, flatten(messages));
}
const allEnglish = new Map([...english.values()].flatMap((keys) => [...keys]));

/** The names a message fills in, once each (a plural's forms repeat them, and a language may have fewer forms). */
function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? ""))].sort();
}

describe("the languages", () => {
  const others = Object.entries(files).filter(([path]) => nameOf(path).code !== "en");

  it("exist beside English", () => {
    expect(english.size).toBeGreaterThan(0);
    expect(others.length).toBeGreaterThan(0);
  });

  it.each(others.map(([path, messages]) => [path, messages] as const))(
    "%s has exactly the keys of its English file, with the same placeholders",
    (path, messages) => {
      const base = english.get(nameOf(path).part);
      expect(base, `no English file for ${path}`).toBeDefined();
      const translated = flatten(messages);
      expect([...translated.keys()].sort()).toEqual([...(base ?? new Map()).keys()].sort());
      for (const [key, text] of translated) {
        expect(placeholders(text), `${path}: ${key}`).toEqual(placeholders(base?.get(key) ?? ""));
      }
    },
  );
});

describe("the messages the page asks for", () => {
  // `t("a.b")`, `$t('a.b')`, `te(...)`; a key built at run time (`a.${x}`, 'a.' + x) is checked by its prefix.
  const calls = /(?<![\w.])\$?te?\(\s*(["'`])([\w.]+)(\$\{)?/g;

  it("are all in English", () => {
    const missing: string[] = [];
    for (const [file, text] of Object.entries(sources)) {
      for (const [, , key = "", built] of text.matchAll(calls)) {
        const known =
          built || key.endsWith(".")
            ? [...allEnglish.keys()].some((k) => k.startsWith(key))
          : allEnglish.has(key) || [...allEnglish.keys()].some((k) => k.startsWith(`${key}.`));
        if (!known) missing.push(`${file}: ${key}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
