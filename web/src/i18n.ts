import { createI18n } from "vue-i18n";
import { pickLanguage } from "./logic/language";
import type enBulk from "./locales/en.bulk.json";
import type enCards from "./locales/en.cards.json";
import type enComfy from "./locales/en.comfy.json";
import type enDetails from "./locales/en.details.json";
import type enFolders from "./locales/en.folders.json";
import type enDuplicates from "./locales/en.duplicates.json";
import type enInbox from "./locales/en.inbox.json";
import type enRichtext from "./locales/en.richtext.json";
import type enLayout from "./locales/en.layout.json";
import type en from "./locales/en.json";
import type enTypes from "./locales/en.types.json";
import type enTriage from "./locales/en.triage.json";
import type enUsage from "./locales/en.usage.json";
import type enWebmeta from "./locales/en.webmeta.json";
import type enWorkflows from "./locales/en.workflows.json";

type Messages = Record<string, unknown>;

/** The messages' shape is English's: every other language has exactly its keys (i18n.test.ts checks it). */
export type MessageSchema = typeof en
  & typeof enBulk
  & typeof enCards
  & typeof enComfy
  & typeof enDetails
  & typeof enDuplicates
  & typeof enFolders
  & typeof enInbox
  & typeof enLayout
  & typeof enRichtext
  & typeof enTriage
  & typeof enTypes
  & typeof enUsage
  & typeof enWebmeta
  & typeof enWorkflows;

declare module "vue-i18n" {
  // Every `t` of the page offers and resolves the keys of the English files.
  export interface DefineLocaleMessage extends MessageSchema {}
}

// A language is one JSON file named for its BCP 47 code (`fr.json`), or several (`fr.library.json`, ...) that are
// merged; dropping files into src/locales and rebuilding is all it takes to add one.
const files = import.meta.glob<Messages>("./locales/*.json", { eager: true, import: "default" });

function deepMerge(into: Messages, from: Messages): Messages {
  for (const [key, value] of Object.entries(from)) {
    const current = into[key];
    if (value && typeof value === "object" && !Array.isArray(value) && current && typeof current === "object") {
      deepMerge(current as Messages, value as Messages);
    } else {
      into[key] = value;
    }
  }
  return into;
}

const messages: Record<string, Messages> = {};
for (const [path, content] of Object.entries(files)) {
  const code = path.replace(/^.*\//, "").split(".")[0] ?? "en";
  messages[code] = deepMerge(messages[code] ?? {}, content);
}

export const LANGUAGES = Object.keys(messages).sort();
const STORAGE_KEY = "hikaze.language";

function storedLanguage(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export const i18n = createI18n<[MessageSchema], string, false>({
  legacy: false,
  locale: pickLanguage(navigator.languages ?? [navigator.language], storedLanguage(), LANGUAGES),
  fallbackLocale: "en",
  // Files found by the glob are untyped; i18n.test.ts holds every one to the English shape.
  messages: messages as Record<string, MessageSchema>,
  missingWarn: false,
  fallbackWarn: false,
});

export function setLanguage(code: string): void {
  i18n.global.locale.value = code;
  document.documentElement.lang = code;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // Private windows may refuse storage; the choice then lasts for this page only.
  }
}

/** A language's name in that language ("简体中文"), for the switcher. */
export function languageName(code: string): string {
  try {
    return new Intl.DisplayNames([code], { type: "language" }).of(code) ?? code;
  } catch {
    return code;
  }
}
