import DOMPurify from "dompurify";

// The markup a model description may carry (Civitai writes HTML): text formatting, lists, tables, links, images.
// Nothing that runs code, takes input, embeds another page or loads media by itself is kept.
const TAGS = [
  "a", "b", "strong", "i", "em", "u", "s", "strike", "del", "ins", "mark", "small", "sub", "sup", "code", "pre",
  "p", "br", "hr", "div", "span", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
  "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "figure", "figcaption", "dl", "dt", "dd", "img",
];
// No `style` (a `url()` in it would load from a remote host), `class` or `id` (the page's own CSS and ids stay ours).
const ATTRS = ["href", "src", "alt", "title", "colspan", "rowspan", "start", "reversed"];
const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
const REMOTE_SRC = "data-remote-src";

// Only these names count as HTML, so that text with a `<lora:name:0.8>` in it stays text and keeps it.
const HTML_HINT = new RegExp(
  `<\\/?(${TAGS.join("|")})(\\s[^>]*)?\\/?>|&(#\\d+|#x[0-9a-f]+|amp|lt|gt|quot|nbsp);`,
  "i",
);

/** Whether a description is HTML (rendered as such) rather than plain text (shown with its line breaks). */
export function looksLikeHtml(text: string): boolean {
  return HTML_HINT.test(text);
}

/** The URL when a link may be followed from a description: http, https or mailto, absolute. */
export function allowedLink(href: string | null): string | null {
  if (!href) return null;
  try {
    return LINK_PROTOCOLS.has(new URL(href).protocol) ? href : null;
  } catch {
    return null;
  }
}

/** The host an image would be loaded from, when it is an absolute http(s) URL; other sources are dropped. */
export function remoteHost(src: string | null): string | null {
  if (!src) return null;
  try {
    const url = new URL(src);
    return url.protocol === "http:" || url.protocol === "https:" ? url.host : null;
  } catch {
    return null;
  }
}

let purifier: ReturnType<typeof DOMPurify> | null = null;

// One instance with our hooks, made on first use: the hooks would otherwise apply to every DOMPurify user.
function instance(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  purifier = DOMPurify(window);
  purifier.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName === "A") {
      const href = allowedLink(node.getAttribute("href"));
      if (href) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      } else {
        node.removeAttribute("href");
      }
    } else if (node.nodeName === "IMG") {
      // The source moves aside while the markup is still in DOMPurify's inert document, so no request leaves
      // the page until the user asks for this image.
      const src = node.getAttribute("src");
      node.removeAttribute("src");
      if (remoteHost(src)) node.setAttribute(REMOTE_SRC, src ?? "");
    }
  });
  return purifier;
}

export interface RenderOptions {
  /** The image sources the user chose to load. */
  revealed: ReadonlySet<string>;
  /** The caption of the button that loads a held-back image. */
  label: (host: string) => string;
}

/**
 * A description's HTML made safe to put in the page: sanitised, links opening in a new tab without an opener,
 * and each remote image held back behind a button (`data-remote-src` names it) unless it is in `revealed`.
 */
export function renderRichText(html: string, options: RenderOptions): string {
  const fragment = instance().sanitize(html, {
    ALLOWED_TAGS: TAGS,
    ALLOWED_ATTR: [...ATTRS, REMOTE_SRC],
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  });
  // Built and serialised in DOMPurify's inert document: an image given its source in the page's own document
  // would load there and again once the markup is shown.
  const doc = fragment.ownerDocument;
  for (const img of fragment.querySelectorAll("img")) {
    const src = img.getAttribute(REMOTE_SRC);
    if (!src) {
      img.remove();
    } else if (options.revealed.has(src)) {
      img.removeAttribute(REMOTE_SRC);
      img.setAttribute("referrerpolicy", "no-referrer");
      img.setAttribute("src", src);
    } else {
      const button = doc.createElement("button");
      button.type = "button";
      button.className = "rt-image";
      button.setAttribute(REMOTE_SRC, src);
      button.dataset.testid = "richtext-image";
      button.textContent = options.label(remoteHost(src) ?? "");
      if (img.alt) button.title = img.alt;
      img.replaceWith(button);
    }
  }
  const box = doc.createElement("div");
  box.append(fragment);
  return box.innerHTML;
}

/** The held-back image a click inside rendered text asks for, if it was on one of the buttons. */
export function requestedImage(target: EventTarget | null): string | null {
  const button = target instanceof Element ? target.closest(`button[${REMOTE_SRC}]`) : null;
  return button?.getAttribute(REMOTE_SRC) ?? null;
}
