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
  const ANSI = /\x1b\[[0-9;]*m/g; // a terminal's colours (as in errors.py)
  const QUOTE_PREFIX = /^[#>] ?/;
  const CLASS_EXCEPTION = /^(\s*)`?<class '((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)'>`?:/;
  const OBJECT_OF_CLASS = /'(\w+)' object has no attribute/g;
  // A frame, one whose excerpt starts within the path, IPython's (as in errors.py).
  const FRAME = /^\s*(?:File "[^"]*", line \d+|\S*\.py", line \d+|(?:File )?\S+\.py:\d+, in )/;
  const DROPPED_LINE = new RegExp(
    "^\\s*(Traceback \\(most recent call last\\):|During handling of the above exception|" +
      "The above exception was the direct cause|[~^\\s]+$|Original traceback:\\s*$|" +
      "\\w+\\s+Traceback \\(most recent call last\\)|Cell In\\[\\d+\\], line \\d+)"
  );
  const IPYTHON_CODE = /^(?:\s+\d+ |-+>\s*\d+ )/;
  const IPYTHON_FAILING = /^-+>\s*\d+ /;
  const EXCEPTION_LINE = /^\s*((?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Warning|Violation)|GuardOnDataDependentSymNode))\s*:/;
  const PATH = /(?:[A-Za-z]:)?(?:[\w.~-]*[/\\])+[\w.-]+(?::\d+)?/g;
  // onnxruntime's status, its sentence around a failing node, C++ names (as in errors.py).
  const ORT_STATUS = /\[ONNXRuntimeError\] : \d+ : [A-Z_]+ :/g;
  const ORT_NODE = /Non-zero status code returned while running (\w+) node\.(?: Name:'[^']*(?:'|$))?/g;
  const ORT_STATUS_MESSAGE = /\s*\bStatus Message:\s*/;
  const CPP_NAME = /\b\w+(?:::~?\w+)+(?:\([^()]*\)?)?(?:\s*const\b)?/g;
  const SYMBOL = /\b(?:zuf|zf|uf|ps|s|u|q|z|c|d)\d+\b/g;
  const FLOAT_SYMBOL = /\b(?:zuf|zf|uf)\d+\b/g;
  const QUOTED = /'[^'\s]{1,60}'|"[^"\s]{1,60}"/g;
  const NAME_BEFORE_SIZE = /\b[A-Za-z_][\w.[\]]*?(?=\.(?:size|shape)\b)/g;
  const NUMBER = /-?\b\d+(?:\.\d+)?\b/g;
  const NAMED_PLACES = [
    [/Constraints violated \([^)]*\)/g, "Constraints violated (NAME)"],
    [/You marked \S+ as dynamic/g, "You marked NAME as dynamic"],
    [/^\s*[A-Za-z_]\w* = /, "NAME = "],
  ];
  const OPERATORS = [["==", " EQ "], ["!=", " NE "], ["<=", " LE "], [">=", " GE "], ["<", " LT "], [">", " GT "], [" % ", " MOD "]];
  const WORD = /[A-Za-z_][A-Za-z0-9_]*/g;
  const ANY_EXCEPTION = /^\s*(?:[A-Za-z_]\w*\.)*[A-Z]\w*: /;
  const FRAME_FUNCTION = /(?:^\s*File "[^"]*", line \d+|^\s*(?:File )?\S+:\d+|\.py", line \d+), in ([A-Za-z_]\w*)|\.py:\d+ in ([A-Za-z_]\w*)\)/;
  const CALL = /([A-Za-z_]\w*)\(/g;
  const TORCH_FRAME = /(?:^|[\s/\\"])torch[/\\]/;
  const BRANCH = /^\s*(?:if|elif|while) /;
  const API_NAMES = new Set(["dynamic_axes", "dynamic_shapes", "input_names", "output_names", "dynamo", "strict"]);
  const OPERATIONS = new Map(Object.entries({
    view: "view", reshape: "view", _reshape_view_helper: "view", infer_size: "view",
    _broadcast_shapes: "broadcast", _maybe_broadcast: "broadcast", broadcast_shapes: "broadcast",
    pick_memory_format: "conv", conv1d: "conv", conv2d: "conv", _conv_forward: "conv", convolution: "conv",
    __bool__: "cond", guard_bool: "cond", item: "item", _local_scalar_dense: "item", tolist: "item",
    interpolate: "interpolate", upsample_nearest2d: "interpolate", upsample_bilinear2d: "interpolate",
    cond: "cond", if: "cond", nonzero: "nonzero", masked_select: "nonzero",
    multi_head_attention_forward: "attention", scaled_dot_product_attention: "attention",
    unbind: "unbind", tensor_split: "unbind",
    aot_compile: "aoti", aoti_compile_and_package: "aoti", solve: "solve", prettify_results: "solve",
  }));
  // Without a class (as in errors.py: the class it reached the reader as is unknown).
  const STRUCTURE = "Detected mismatch between the structure of `inputs` and `dynamic_shapes`";
  const DATA_DEPENDENT = "Could not guard on data-dependent expression";
  const FRAME_MESSAGES = new Map(Object.entries({
    _check_dynamic_shapes: STRUCTURE, _tree_map_with_path: STRUCTURE,
    produce_guards_and_solve_constraints: "Constraints violated", produce_guards: "Constraints violated",
    _reshape_view_helper: DATA_DEPENDENT, guard_bool: DATA_DEPENDENT, _make_data_dependent_error: DATA_DEPENDENT,
  }));
  const OTHER_OPERATIONS = 0.5;
  const BOILERPLATE_LINES = new RegExp(
    "The error above occurred when calling torch\\.export|call with `draft_export\\(\\)`|" +
      "^\\s*Set TORCH_LOGS=|^\\s*For more information about this error, see|^\\s*Potential framework code culprit|" +
      "^\\s*User Stack \\(most recent call last\\)|^\\s*\\(snipped, see stack below|" +
      // The hints under a data-dependent error (as in errors.py).
      "^\\s*For extended logs when we create symbols|^\\s*If you suspect the guard was triggered from C\\+\\+|" +
      "^\\s*For more debugging help, see|^\\s*For C\\+\\+ stack trace, run with|" +
      // The ONNX exporter's advice under the step that failed, and its summary's frame (as in errors.py).
      "^\\s*- (?:Modify the model code for `torch\\.export\\.export`|Debug `torch\\.export\\.export`|" +
      "Create an issue in the PyTorch GitHub|Create an error report with|If there is a missing ONNX function|" +
      "If there is an internal error during ONNX conversion)|" +
      "^\\s*#{1,2} Exception summary|^\\s*\\(Refer to the full stack trace above"
  );
  const BOILERPLATE_PHRASES = new RegExp(
    "(?:For more information, )?run with TORCH_LOGS=\\S*|,? ?(?:for more info run with )?TORCHDYNAMO_EXTENDED_DEBUG\\w*=?\\S*|" +
      "For more information about this error, see:?|https?://\\S+|" +
      "\\(Could this error message be improved\\?[^)]*\\)", "g"
  );
  const FX_NODE = /While executing %\S+ : \[[^\]]*\] = \w+\[target=(?:torch\.ops\.\w+\.(\w+)(?:\.\w+)?|<built-in (?:function|method) (\w+)[^>]*>|(?:[\w.]*\.)?(\w+))\].*$/;
  const LOG_PREFIX = /^[IWEFD] ?\d{2,4}[ :][\d:.]+ +(?:\d+ )?\S+:\d+\] (?:\[[\d/]+\] )?/;
  const REWRITTEN_LINES = [
    // The expression, without the arguments that follow it (as in errors.py).
    [/failed (?:during|while running) evaluate_expr\(\W*(.*?)(?:,\s*(?:\w+=)?(?:None|False|True)\b.*)?$/g,
      "Could not guard on data-dependent expression $1"],
    [/^.*?\[E:onnxruntime:[^\]]*\]\s*/, "RuntimeException: [ONNXRuntimeError] : RUNTIME_EXCEPTION : "],
    [/^\s*\[torch\.onnx\] (?=.*\u274c)/, "TorchExportError: step failed "],
    [/^\s*\[torch\.onnx\] /, ""],
    // The FX node an error happened in: its operation (as in errors.py).
    [FX_NODE, "While executing $1$2$3"],
    // The step of the ONNX exporter that failed (as in errors.py).
    [/Failed to (?:export the model with torch\.export|decompose the FX graph for ONNX compatibility|convert the exported program to an ONNX model)\. This is step (\d)\/\d+ of exporting the model to ONNX\.(?: Next steps:)?/,
      "onnx_exporter_step_$1"],
  ];
  const ZERO_ONE = /(constant \(|hint of |hint = |[=!]= )([01])(?![\d.])/g;
  const CLASS = /<class '(?:[\w.]*\.)?(\w+)'>/g;
  const BUILTIN_CLASSES = new Set("int float bool str list tuple dict NoneType".split(" "));
  const KEYS = /arg names `?\[([^\]]*)\]`? of `?inputs`?, but here they are `?\[([^\]]*)\]/g;
  const KEY = /'([^']*)'/g;
  const CHAIN = /^\s*(During handling of the above exception|The above exception was the direct cause)/;
  const NO_MATCH_BELOW = 0.30;
  const OLDER_WORDINGS = [
    [/Not all values of \S+ = \S+ in the specified range (?:.*? )?are valid because \S+ was inferred to be a constant/g,
      "You marked NAME as dynamic but your code specialized it to be a constant"],
    [/was inferred to be a constant/g, "specialized it to be a constant"],
  ];

  function errorLines(text) {
    const kept = [];
    let skipCode = false;
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.replace(ANSI, "").replace(/\s+$/, "").replace(RANK_PREFIX, "").replace(QUOTE_PREFIX, "");
      line = line.replace(LOG_PREFIX, "").replace(CLASS_EXCEPTION, "$1$2:");
      if (FRAME.test(line)) {
        skipCode = true;
        continue;
      }
      if (skipCode && line.startsWith("    ") && !EXCEPTION_LINE.test(line)) {
        skipCode = false;
        continue;
      }
      skipCode = false;
      if (!line.trim() || DROPPED_LINE.test(line) || IPYTHON_CODE.test(line) || BOILERPLATE_LINES.test(line)) continue;
      for (const [pattern, replacement] of REWRITTEN_LINES) line = line.replace(pattern, replacement);
      line = line.replace(BOILERPLATE_PHRASES, " ");
      for (const part of line.split(ORT_STATUS_MESSAGE)) if (part.trim()) kept.push(part);
    }
    if (!kept.some((line) => ANY_EXCEPTION.test(line))) {
      const implied = frameFunctions(text).filter((name) => FRAME_MESSAGES.has(name)).map((name) => FRAME_MESSAGES.get(name));
      if (implied.length) kept.push(implied[implied.length - 1]);
    }
    return kept;
  }

  function frameFunctions(text) {
    const found = [];
    for (const raw of text.split(/\r?\n/)) {
      const frame = FRAME_FUNCTION.exec(raw);
      if (frame) found.push(frame[1] || frame[2]);
    }
    return found;
  }

  function operations(text) {
    const found = [];
    let afterFrame = false;
    for (const raw of text.split(/\r?\n/)) {
      const frame = FRAME_FUNCTION.exec(raw);
      let names = frame ? [frame[1] || frame[2]] : [];
      const node = FX_NODE.exec(raw); // "While executing %x : ... [target=torch.ops.aten.view.default]"
      if (node) names.push(node[1] || node[2] || node[3]);
      const failing = IPYTHON_FAILING.exec(raw); // IPython marks a frame's failing line "-> 1448 code"
      if ((afterFrame || failing) && !frame) {
        const code = failing ? raw.slice(failing[0].length) : raw;
        names = (BRANCH.test(code) ? ["if"] : []).concat([...code.matchAll(CALL)].map((m) => m[1]));
      }
      // The code line printed under a frame of the reader's code (as in errors.py).
      afterFrame = Boolean(frame && frame[1]) && raw.includes('", line ') && !TORCH_FRAME.test(raw);
      for (const name of names) {
        if (OPERATIONS.has(name) && !found.includes(OPERATIONS.get(name))) found.push(OPERATIONS.get(name));
      }
    }
    return found;
  }

  function classWord(match, name) {
    const kind = BUILTIN_CLASSES.has(name) ? name.toLowerCase() : name.toLowerCase().includes("cache") ? "cache" : "user";
    return ` class_${kind} `;
  }

  function keysWords(match, expected, given) {
    const names = (list) => new Set([...list.matchAll(KEY)].map((m) => m[1]));
    const want = names(expected);
    const got = names(given);
    return match + ([...want].some((k) => !got.has(k)) ? " KEYS_MISSING" : "") + ([...got].some((k) => !want.has(k)) ? " KEYS_UNKNOWN" : "");
  }

  function words(line) {
    for (const [older, current] of OLDER_WORDINGS) line = line.replace(older, current);
    for (const [place, name] of NAMED_PLACES) line = line.replace(place, name);
    line = line.replace(KEYS, keysWords).replace(OBJECT_OF_CLASS, (m, name) => classWord(m, name) + " object has no attribute").replace(CLASS, classWord).replace(ZERO_ONE, (m, before) => before + " ZERO_ONE ");
    line = line.replace(ORT_STATUS, "[ONNXRuntimeError] :").replace(CPP_NAME, " ");
    line = line.replace(ORT_NODE, (m, op) => ` onnxruntime_node onnx_op_${op.toLowerCase()} `);
    line = line.replace(PATH, " ").replace(QUOTED, (m) => (API_NAMES.has(m.slice(1, -1)) ? ` ${m.slice(1, -1)} ` : " NAME ")).replace(NAME_BEFORE_SIZE, " NAME ");
    line = line.replace(FLOAT_SYMBOL, " SYM_FLOAT ").replace(SYMBOL, " SYM ").replace(NUMBER, " NUM ");
    for (const [operator, word] of OPERATORS) line = line.split(operator).join(word);
    return (line.match(WORD) || [])
      .filter((word) => word.length > 1 && !STOP_WORDS.has(word.toLowerCase()))
      .map((word) => word.toLowerCase());
  }

  const PLACEHOLDERS = new Set(["name", "num", "sym", "sym_float"]);

  function hasWords(line) {
    return words(line.replace(EXCEPTION_LINE, "")).some((word) => !PLACEHOLDERS.has(word));
  }

  function features(text) {
    const found = new Map();
    const add = (feature) => found.set(feature, (found.get(feature) || 0) + 1);
    const seen = new Set();
    for (let line of errorLines(text)) {
      const exception = EXCEPTION_LINE.exec(line);
      const key = exception ? exception[2] : "";
      if (exception) line = line.slice(exception[0].length);
      const tokens = words(line);
      // A repeated line counts once (as in errors.py).
      const seenKey = JSON.stringify([key, ...tokens]);
      if (seen.has(seenKey)) continue;
      seen.add(seenKey);
      if (exception) add("exc:" + key.toLowerCase());
      tokens.forEach(add);
      for (let i = 0; i + 1 < tokens.length; i++) add(tokens[i] + " " + tokens[i + 1]);
    }
    for (const name of operations(text)) add("op:" + name);
    return found;
  }

  function blocks(text) {
    const found = [];
    let current = [];
    for (const line of text.split(/\r?\n/)) {
      if (CHAIN.test(line) && current.length) {
        found.push(current.join("\n"));
        current = [];
      }
      current.push(line);
    }
    found.push(current.join("\n"));
    return found.filter((block) => errorLines(block).length);
  }

  function normalised(text, limit = 1500) {
    return errorLines(text).map((line) => line.replace(PATH, "...").trim()).join("\n").slice(0, limit);
  }

  function family(answer) {
    const closest = answer.matches.length ? answer.matches : answer.related;
    return closest.length ? closest[0].page.split("/").slice(-2)[0] : "";
  }

  function reportLink(repositoryUrl, answer) {
    const first = answer.query.split("\n")[0].slice(0, 100);
    const body = `No recipe documents this error (closest family: ${answer.family || "none"}).\n\n\`\`\`\n${answer.query}\n\`\`\`\n`;
    return `${repositoryUrl}/issues/new?title=${encodeURIComponent("No recipe for: " + first)}&body=${encodeURIComponent(body)}`;
  }

  class Matcher {
    constructor(entries) {
      this.entries = entries.map((entry) => ({ kind: "error", ops: [], ...entry }));
      const entryFeatures = (text, ops) => {
        const found = features(text);
        for (const name of ops) found.set("op:" + name, (found.get("op:" + name) || 0) + 1);
        return found;
      };
      const counted = this.entries.map((entry) => entryFeatures(entry.text, entry.ops));
      const frequency = new Map();
      for (const found of counted) for (const feature of found.keys()) frequency.set(feature, (frequency.get(feature) || 0) + 1);
      this.idf = new Map();
      for (const [feature, count] of frequency) this.idf.set(feature, Math.log((1 + this.entries.length) / (1 + count)) + 1);
      this.unknownIdf = Math.log(1 + this.entries.length) + 1;
      this.vectors = counted.map((found) => this.vector(found));
      // Each line of an entry of several lines, on its own, when it has words of its own (as in errors.py).
      this.lineVectors = this.entries.map((entry) => {
        const lines = errorLines(entry.text);
        return lines.length > 1 ? lines.filter(hasWords).map((line) => this.vector(entryFeatures(line, entry.ops))) : [];
      });
    }

    vector(found) {
      const vector = new Map();
      let norm = 0;
      for (const [feature, count] of found) {
        if (!this.idf.has(feature)) {
          // A word that no entry holds weighs in the norm as the rarest word would (as in errors.py).
          if (!feature.includes(" ")) norm += ((1 + Math.log(count)) * this.unknownIdf) ** 2;
          continue;
        }
        const value = (1 + Math.log(count)) * this.idf.get(feature);
        vector.set(feature, value);
        norm += value * value;
      }
      norm = Math.sqrt(norm) || 1;
      for (const [feature, value] of vector) vector.set(feature, value / norm);
      return vector;
    }

    bestLine(entry, query) {
      // A line of placeholders or of a class alone ("['meta', 'meta']") is never the one shown.
      const all = errorLines(entry.text);
      const lines = all.some(hasWords) ? all.filter(hasWords) : all;
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

    queries(text) {
      const queries = [[this.vector(features(text)), true]];
      const parts = blocks(text);
      if (parts.length > 1) for (const part of parts) queries.push([this.vector(features(part)), true]);
      const lines = errorLines(text);
      if (lines.length > 1) queries.push([this.vector(features(lines[0])), false]);
      return queries;
    }

    match(text, limit = 5) {
      const best = new Map();
      const ops = operations(text);
      for (const [query, everything] of this.queries(text)) {
        this.entries.forEach((entry, index) => {
          if (!everything && entry.kind !== "title" && entry.kind !== "warning") return;
          const vectors = everything ? [this.vectors[index], ...this.lineVectors[index]] : [this.vectors[index]];
          let score = -Infinity;
          for (const vector of vectors) {
            let sum = 0;
            for (const [feature, value] of query) sum += value * (vector.get(feature) || 0);
            score = Math.max(score, sum);
          }
          if (ops.length && !ops.some((name) => entry.ops.includes(name))) score *= OTHER_OPERATIONS;
          score = Math.round(score * 1e9) / 1e9; // as in errors.py: last-bit differences of log() must not break ties
          if (score > 0 && score > (best.has(entry.page) ? best.get(entry.page).score : 0)) best.set(entry.page, { score, entry, query });
        });
      }
      return [...best.values()]
        .sort((a, b) => b.score - a.score || (a.entry.page < b.entry.page ? -1 : 1))
        .slice(0, limit)
        .map(({ score, entry, query }) => ({
          title: entry.title,
          page: entry.page,
          score: Math.round(score * 10000) / 10000,
          line: this.bestLine(entry, query),
          kind: entry.kind,
        }));
    }

    answer(text, limit = 5, threshold = NO_MATCH_BELOW) {
      const matches = this.match(text, limit);
      const confidence = matches.length ? matches[0].score : 0;
      const answer = confidence < threshold
        ? { matches: [], confidence, related: matches.slice(0, 3), query: normalised(text) }
        : { matches, confidence, related: [], query: normalised(text) };
      answer.noMatch = !answer.matches.length;
      answer.family = family(answer);
      return answer;
    }
  }

  window.cookbookErrorMatcher = { errorLines, words, features, operations, blocks, normalised, reportLink, Matcher };

  function resultItem(result, className) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = result.page;
    link.textContent = result.title;
    link.className = className;
    const score = document.createElement("span");
    score.className = "error-matcher-score";
    score.textContent = ` (score ${result.score.toFixed(2)}${result.kind === "error" ? "" : ", " + result.kind})`;
    const line = document.createElement("mark");
    line.className = "error-matcher-line";
    line.textContent = result.line;
    const code = document.createElement("code");
    code.appendChild(line);
    item.append(link, score, document.createElement("br"), code);
    return item;
  }

  // What the reader sees: a sentence in the status paragraph, then the numbered list of recipes
  // (those that document the error, or, under "no match", the related ones): the list holds recipes only.
  function show(answer, status, list) {
    list.replaceChildren();
    if (!answer.noMatch) {
      status.textContent = "Recipes that document an error like yours, best first:";
      for (const result of answer.matches) list.appendChild(resultItem(result, "error-matcher-recipe"));
      return;
    }
    const none = document.createElement("strong");
    none.className = "error-matcher-none";
    none.textContent = "No recipe documents this error" + (answer.related.length ? ` (confidence ${answer.confidence.toFixed(2)}).` : ".");
    status.replaceChildren(none);
    if (window.cookbookRepositoryUrl) {
      const report = document.createElement("a");
      report.className = "error-matcher-report";
      report.href = reportLink(window.cookbookRepositoryUrl, answer);
      report.textContent = "Report it (opens a prefilled issue)";
      status.append(" ", report);
    }
    if (answer.related.length) {
      const family = (window.cookbookSectionTitles || {})[answer.family] || answer.family;
      const related = document.createElement("span");
      related.className = "error-matcher-related-heading";
      related.textContent = `Related recipes, from the closest section (${family}), though they do not document it:`;
      status.append(document.createElement("br"), related);
      for (const result of answer.related) list.appendChild(resultItem(result, "error-matcher-related"));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const input = document.getElementById("error-matcher-input");
    const status = document.getElementById("error-matcher-status");
    const list = document.getElementById("error-matcher-results");
    if (!input || !status || !list || !window.cookbookErrorIndex) return;
    const matcher = new Matcher(window.cookbookErrorIndex);
    const clear = () => { status.replaceChildren(); list.replaceChildren(); };
    const run = () => (input.value.trim() ? show(matcher.answer(input.value, 5), status, list) : clear());
    input.addEventListener("input", run);
    run();
  });
})();
