/* The error matcher of the troubleshooting page: paste an error or a traceback, get the recipes
 * that document it. The same rules as cookbook/errors.py (its docstring explains them); the tests
 * hold both to the same features and the same ranking. It runs offline, on the index the build
 * writes to _static/error-index.js (window.cookbookErrorIndex). */
(function () {
  "use strict";

  const STOP_WORDS = new Set(
    "a an the to of is in for and or be this that it with on as at by are was were if you your we can not".split(" ")
  );
  const RANK_PREFIX = /^\[rank\d+\]:\s?/;
  const FRAME = /^\s*File "[^"]*", line \d+/;
  const DROPPED_LINE = new RegExp(
    "^\\s*(Traceback \\(most recent call last\\):|During handling of the above exception|" +
      "The above exception was the direct cause|[~^\\s]+$|" +
      "\\w+\\s+Traceback \\(most recent call last\\)|Cell In\\[\\d+\\], line \\d+)"
  );
  const IPYTHON_CODE = /^(?:\s+\d+ |-+>\s*\d+ )/;
  const EXCEPTION_LINE = /^\s*((?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Warning|Violation)))\s*:/;
  const PATH = /(?:[A-Za-z]:)?(?:[\w.~-]*\/)+[\w.-]+(?::\d+)?/g;
  const SYMBOL = /\b[suqz]\d+\b/g;
  const QUOTED = /'[^'\s]{1,60}'|"[^"\s]{1,60}"/g;
  const NAME_BEFORE_SIZE = /\b[A-Za-z_][\w.[\]]*?(?=\.(?:size|shape)\b)/g;
  const NUMBER = /-?\b\d+(?:\.\d+)?\b/g;
  const NAMED_PLACES = [
    [/Constraints violated \([^)]*\)/g, "Constraints violated (NAME)"],
    [/You marked \S+ as dynamic/g, "You marked NAME as dynamic"],
    [/^\s*[A-Za-z_]\w* = /, "NAME = "],
  ];
  const OPERATORS = [["==", " EQ "], ["!=", " NE "], ["<=", " LE "], [">=", " GE "], ["<", " LT "], [">", " GT "]];
  const WORD = /[A-Za-z_][A-Za-z0-9_]*/g;
  const OLDER_WORDINGS = [
    [/Not all values of \S+ = \S+ in the specified range (?:.*? )?are valid because \S+ was inferred to be a constant/g,
      "You marked NAME as dynamic but your code specialized it to be a constant"],
    [/was inferred to be a constant/g, "specialized it to be a constant"],
  ];

  function errorLines(text) {
    const kept = [];
    let skipCode = false;
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/\s+$/, "").replace(RANK_PREFIX, "");
      if (FRAME.test(line)) {
        skipCode = true;
        continue;
      }
      if (skipCode && line.startsWith("    ") && !EXCEPTION_LINE.test(line)) {
        skipCode = false;
        continue;
      }
      skipCode = false;
      if (!line.trim() || DROPPED_LINE.test(line) || IPYTHON_CODE.test(line)) continue;
      kept.push(line);
    }
    return kept;
  }

  function words(line) {
    for (const [older, current] of OLDER_WORDINGS) line = line.replace(older, current);
    for (const [place, name] of NAMED_PLACES) line = line.replace(place, name);
    line = line.replace(PATH, " ").replace(QUOTED, " NAME ").replace(NAME_BEFORE_SIZE, " NAME ");
    line = line.replace(SYMBOL, " SYM ").replace(NUMBER, " NUM ");
    for (const [operator, word] of OPERATORS) line = line.split(operator).join(word);
    return (line.match(WORD) || [])
      .filter((word) => word.length > 1 && !STOP_WORDS.has(word.toLowerCase()))
      .map((word) => word.toLowerCase());
  }

  function features(text) {
    const found = new Map();
    const add = (feature) => found.set(feature, (found.get(feature) || 0) + 1);
    for (let line of errorLines(text)) {
      const exception = EXCEPTION_LINE.exec(line);
      if (exception) {
        add("exc:" + exception[2].toLowerCase());
        line = line.slice(exception[0].length);
      }
      const tokens = words(line);
      tokens.forEach(add);
      for (let i = 0; i + 1 < tokens.length; i++) add(tokens[i] + " " + tokens[i + 1]);
    }
    return found;
  }

  class Matcher {
    constructor(entries) {
      this.entries = entries;
      const counted = entries.map((entry) => features(entry.text));
      const frequency = new Map();
      for (const found of counted) for (const feature of found.keys()) frequency.set(feature, (frequency.get(feature) || 0) + 1);
      this.idf = new Map();
      for (const [feature, count] of frequency) this.idf.set(feature, Math.log((1 + entries.length) / (1 + count)) + 1);
      this.vectors = counted.map((found) => this.vector(found));
    }

    vector(found) {
      const vector = new Map();
      let norm = 0;
      for (const [feature, count] of found) {
        if (!this.idf.has(feature)) continue;
        const value = (1 + Math.log(count)) * this.idf.get(feature);
        vector.set(feature, value);
        norm += value * value;
      }
      norm = Math.sqrt(norm) || 1;
      for (const [feature, value] of vector) vector.set(feature, value / norm);
      return vector;
    }

    bestLine(entry, query) {
      const lines = errorLines(entry.text);
      let best = lines[0] || entry.text;
      let bestScore = -1;
      for (const line of lines) {
        let shared = 0;
        for (const feature of features(line).keys()) shared += query.get(feature) || 0;
        if (shared > bestScore) {
          best = line;
          bestScore = shared;
        }
      }
      return best.trim();
    }

    match(text, limit = 5) {
      const query = this.vector(features(text));
      const best = new Map();
      this.entries.forEach((entry, index) => {
        let score = 0;
        for (const [feature, value] of query) score += value * (this.vectors[index].get(feature) || 0);
        if (score > 0 && score > (best.has(entry.page) ? best.get(entry.page).score : 0)) best.set(entry.page, { score, entry });
      });
      return [...best.values()]
        .sort((a, b) => b.score - a.score || (a.entry.page < b.entry.page ? -1 : 1))
        .slice(0, limit)
        .map(({ score, entry }) => ({
          title: entry.title,
          page: entry.page,
          score: Math.round(score * 10000) / 10000,
          line: this.bestLine(entry, query),
        }));
    }
  }

  window.cookbookErrorMatcher = { errorLines, words, features, Matcher };

  function show(results, list) {
    list.replaceChildren();
    if (!results.length) {
      const item = document.createElement("li");
      item.textContent = "No documented error resembles this one: look through the list below.";
      list.appendChild(item);
      return;
    }
    for (const result of results) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = result.page;
      link.textContent = result.title;
      link.className = "error-matcher-recipe";
      const score = document.createElement("span");
      score.className = "error-matcher-score";
      score.textContent = ` (score ${result.score.toFixed(2)})`;
      const line = document.createElement("mark");
      line.className = "error-matcher-line";
      line.textContent = result.line;
      const code = document.createElement("code");
      code.appendChild(line);
      item.append(link, score, document.createElement("br"), code);
      list.appendChild(item);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const input = document.getElementById("error-matcher-input");
    const list = document.getElementById("error-matcher-results");
    if (!input || !list || !window.cookbookErrorIndex) return;
    const matcher = new Matcher(window.cookbookErrorIndex);
    const run = () => (input.value.trim() ? show(matcher.match(input.value, 5), list) : list.replaceChildren());
    input.addEventListener("input", run);
    document.getElementById("error-matcher-button")?.addEventListener("click", run);
    run();
  });
})();
