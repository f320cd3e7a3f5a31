// The page's markdown-it instance, built from the vendored browser builds (see README.md).
import MarkdownIt from "./vendor/markdown-it.js";
import hljs from "./vendor/highlight/index.js";
import { createMarkdown } from "./markdown.js";

export const md = createMarkdown(MarkdownIt, hljs);
