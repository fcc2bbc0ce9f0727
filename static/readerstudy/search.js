/* Diagnosis search for the case page: names, synonyms and codes, typo-tolerant, ranked.
 * Plain functions with no DOM use, so the same file runs in the page (window.ReaderSearch) and in
 * node for the unit tests (tests/readerstudy_tests/test_reader_search.py).
 *
 * Ranking, best first (each level before the next; the same levels again for typo matches):
 *   0  the query is a whole name, synonym or code ("eczema" -> Atopic dermatitis, "sk")
 *   1  the condition's own name starts with the query
 *   2  every query word starts a word of the own name ("naevus" -> ... naevus)
 *   3  a synonym or the code starts with the query, or every word starts a word of one
 *   4  every word is inside the own name;  5  inside a synonym
 * then matches that need a typo (one per word of 4-6 letters, two from 7: "ekzema"), at the same
 * levels. Within a level, the condition more of whose names match comes first (the generic
 * condition for a word: "naevus" -> Melanocytic naevus, whose synonyms are common, junctional,
 * compound ... naevus), then taxonomy order.
 *
 * Languages: an entry may carry `names`, further names that count as its own (the English name
 * when `name` is the reader's language); its synonyms then hold both languages' (see
 * condition_index). Matching ignores case and accents ("eczema" finds "Eczéma", "navus" finds
 * "Nävus"; ß = ss, œ = oe), works in any script, and Chinese, Japanese and
 * Korean text is compared without spaces, as substrings ("色素" finds 黑色素瘤). */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.ReaderSearch = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var TYPO_LEVELS = 10;  // typo matches rank after every exact match

  var CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff" +
    "\uac00-\ud7af\uf900-\ufaff";
  var CJK_GAP = new RegExp("([" + CJK + "]) (?=[" + CJK + "])", "g");
  var NOT_WORD = /[^\p{L}\p{N}\p{M}]+/gu;

  // Lower case, accents off (NFKD also folds full-width letters typed with a CJK input method),
  // anything that is not a letter or digit (any script) a single space, no space between CJK.
  function norm(s) {
    return String(s || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/\u00df/g, "ss").replace(/\u0153/g, "oe").replace(/\u00e6/g, "ae").replace(/\u00f8/g, "o")
      .replace(NOT_WORD, " ").trim().replace(CJK_GAP, "$1");
  }
  function words(s) { var n = norm(s); return n ? n.split(" ") : []; }

  function allowedTypos(word) { return word.length >= 7 ? 2 : word.length >= 4 ? 1 : 0; }

  // The fewest edits (insert, delete, substitute, swap two neighbours) turning `word` into some
  // prefix of `token`: a word being typed matches a longer token it starts.
  function prefixDistance(word, token, limit) {
    var n = word.length, m = token.length, prev2 = null, prev = [], cur, i, j;
    for (j = 0; j <= m; j++) prev.push(j);
    for (i = 1; i <= n; i++) {
      cur = [i];
      var rowMin = i;
      for (j = 1; j <= m; j++) {
        var cost = word[i - 1] === token[j - 1] ? 0 : 1;
        var v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
        if (i > 1 && j > 1 && word[i - 1] === token[j - 2] && word[i - 2] === token[j - 1]) {
          v = Math.min(v, prev2[j - 2] + 1);
        }
        cur.push(v);
        if (v < rowMin) rowMin = v;
      }
      if (rowMin > limit) return limit + 1;
      prev2 = prev; prev = cur;
    }
    return Math.min.apply(null, prev);
  }

  function prepare(conditions) {
    return conditions.map(function (c, rank) {
      var keys = [{ text: norm(c.name), own: true, label: null }];
      (c.names || []).forEach(function (s) { keys.push({ text: norm(s), own: true, label: s }); });
      (c.synonyms || []).forEach(function (s) { keys.push({ text: norm(s), own: false, label: s }); });
      keys.push({ text: norm(c.code), own: false, label: null });
      keys.forEach(function (k) { k.tokens = k.text ? k.text.split(" ") : []; });
      return { code: c.code, name: c.name, group: c.group, synonyms: c.synonyms || [], names: c.names || [],
               rank: rank, keys: keys };
    });
  }

  // How well `key` matches the query: {level, typos} or null.
  function matchKey(key, query, qwords) {
    if (!key.text) return null;
    if (key.text === query) return { level: 0, typos: 0 };
    var starts = key.text.indexOf(query) === 0;
    var wordStarts = qwords.every(function (w) {
      return key.tokens.some(function (t) { return t.indexOf(w) === 0; });
    });
    if (starts || wordStarts) {
      if (key.own) return { level: starts ? 1 : 2, typos: 0 };
      return { level: 3, typos: 0 };
    }
    if (qwords.every(function (w) { return key.text.indexOf(w) !== -1; })) return { level: key.own ? 4 : 5, typos: 0 };
    // Typo tolerance, word by word.
    var typos = 0;
    for (var i = 0; i < qwords.length; i++) {
      var w = qwords[i], limit = allowedTypos(w), best = limit + 1;
      if (!limit) return null;
      for (var j = 0; j < key.tokens.length && best > 0; j++) {
        best = Math.min(best, prefixDistance(w, key.tokens[j], limit));
      }
      if (best > limit) return null;
      typos += best;
    }
    var whole = qwords.length === key.tokens.length && prefixDistance(query, key.text, allowedTypos(query)) <=
      allowedTypos(query) && Math.abs(query.length - key.text.length) <= allowedTypos(query);
    var level = whole ? 0 : key.own ? 2 : 3;
    return { level: TYPO_LEVELS + level, typos: typos };
  }

  /* The best matches for `query` among `entries` (from prepare), skipping the codes in `exclude`.
   * Returns [{c, level, typos, support, via}], best first; `via` is the synonym that matched when
   * the own name did not. */
  function search(entries, query, exclude, limit) {
    var q = norm(query), qwords = q ? q.split(" ") : [];
    if (!q || !entries) return [];
    var hits = [];
    entries.forEach(function (c) {
      if (exclude && exclude.has(c.code)) return;
      var best = null, bestKey = null, support = 0;
      c.keys.forEach(function (k) {
        var hit = matchKey(k, q, qwords);
        if (!hit) return;
        support += 1;
        if (!best || hit.level < best.level || (hit.level === best.level && hit.typos < best.typos)) {
          best = hit; bestKey = k;
        }
      });
      if (!best) return;
      var via = bestKey.label && norm(bestKey.label) !== norm(c.name) ? bestKey.label : null;
      hits.push({ c: c, level: best.level, typos: best.typos, support: support, via: via });
    });
    hits.sort(function (a, b) {
      return a.level - b.level || a.typos - b.typos || b.support - a.support || a.c.rank - b.c.rank;
    });
    return hits.slice(0, limit || 8);
  }

  return { norm: norm, words: words, prepare: prepare, search: search, prefixDistance: prefixDistance };
});
