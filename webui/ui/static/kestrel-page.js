/* Kestrel's page script (our own code, after A1111's behaviour in its javascript/ folder):
 *
 * - keyboard: Ctrl+Enter generates in the open tab (interrupting a running job first), Alt+Enter skips, Escape
 *   interrupts a running job;
 * - Ctrl+Up / Ctrl+Down in a prompt box change the attention weight of the selection, or of the word or the
 *   "(text:weight)" under the cursor, by opts.keyedit_precision_attention (0.1);
 * - the generate box: Interrupt and Skip are shown over Generate only while the tab's job runs;
 * - titles (tooltips) on the emoji buttons, and their text when the browser has no emoji font;
 * - the Settings search: a listed match opens its section and shows the setting.
 */
(function () {
  if (window.kestrelSetRunning) { return; }
  if (!window.opts) {  // A1111's settings (keyedit_*), unless the extensions' helpers already read them
    window.opts = {};
    fetch('/kestrel/v1/a1111/opts', {credentials: 'same-origin'}).then(function (response) {
      return response.ok ? response.json() : {};
    }).then(function (values) { Object.assign(window.opts, values); }).catch(function () {});
  }
  function root() {
    var app = document.getElementsByTagName('gradio-app')[0];
    return app && app.shadowRoot ? app.shadowRoot : document;
  }
  function option(name, fallback) {
    var value = window.opts ? window.opts[name] : undefined;
    return value === undefined || value === null || value === '' ? fallback : value;
  }
  function visible(element) { return !!element && element.offsetParent !== null; }

  /* ---- the generate box ---- */
  window.kestrelSetRunning = function (tab, running) {
    var box = root().getElementById(tab + '_generate_box');
    if (box) { box.classList.toggle('kestrel-running', !!running); }
    return [];
  };
  function isRunning(tab) {
    var box = root().getElementById(tab + '_generate_box');
    return !!box && box.classList.contains('kestrel-running');
  }
  function openTab() {
    /* the tab whose Generate button is on screen (txt2img, img2img, extras, ...) */
    var buttons = Array.prototype.slice.call(root().querySelectorAll('button[id$="_generate"]'));
    var shown = buttons.filter(visible)[0];
    return shown ? shown.id.replace(/_generate$/, '') : null;
  }
  function click(id) {
    var button = root().getElementById(id);
    if (button) { button.click(); }
    return !!button;
  }

  /* ---- keyboard ---- */
  document.addEventListener('keydown', function (event) {
    var enter = event.key === 'Enter', ctrl = event.ctrlKey || event.metaKey;
    if (ctrl && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
      if (editAttention(event)) { event.preventDefault(); }
      return;
    }
    if (!(enter && (ctrl || event.altKey)) && event.key !== 'Escape') { return; }
    var tab = openTab();
    if (!tab) { return; }
    if (enter && ctrl) {
      event.preventDefault();
      if (!isRunning(tab)) { click(tab + '_generate'); return; }
      click(tab + '_interrupt');  // A1111: Ctrl+Enter during a run interrupts it, then generates again
      var waited = setInterval(function () {
        if (!isRunning(tab)) { clearInterval(waited); click(tab + '_generate'); }
      }, 100);
    } else if (enter && event.altKey) {
      event.preventDefault();
      if (isRunning(tab)) { click(tab + '_skip'); }
    } else if (event.key === 'Escape' && isRunning(tab)) {
      var popup = root().querySelector('.global-popup, dialog[open]');
      if (!popup) { click(tab + '_interrupt'); event.preventDefault(); }
    }
  }, true);

  /* ---- attention weights ---- */
  var WEIGHTED = /^\(([\s\S]*):(-?\d+(?:\.\d+)?)\)$/;
  function delimiters() {
    return option('keyedit_delimiters', '.,\\/!?%^*;:{}=`~() ') + option('keyedit_delimiters_whitespace_chars', ' \t\n');
  }
  function enclosingGroup(text, cursor) {
    /* "(text:1.2)" around the cursor, as [start, end) including the brackets, or null */
    var open = text.lastIndexOf('(', cursor - 1), close = text.indexOf(')', cursor);
    if (open < 0 || close < 0) { return null; }
    if (text.slice(open + 1, cursor).indexOf(')') >= 0 || text.slice(cursor, close).indexOf('(') >= 0) { return null; }
    return WEIGHTED.test(text.slice(open, close + 1)) ? [open, close + 1] : null;
  }
  function wordAt(text, cursor) {
    var stops = delimiters(), start = cursor, end = cursor;
    while (start > 0 && stops.indexOf(text[start - 1]) < 0) { start--; }
    while (end < text.length && stops.indexOf(text[end]) < 0) { end++; }
    return [start, end];
  }
  function formatWeight(weight, step) {
    var decimals = Math.max(1, (String(step).split('.')[1] || '').length);
    return String(parseFloat(weight.toFixed(decimals))).replace(/^(-?\d+)$/, '$1.0');
  }
  function editAttention(event) {
    var box = event.target;
    if (!(box instanceof HTMLTextAreaElement) || !box.closest('[id$="_prompt"], [id$="_neg_prompt"]')) { return false; }
    var text = box.value, start = box.selectionStart, end = box.selectionEnd;
    if (start === end) {
      var range = enclosingGroup(text, start) || wordAt(text, start);
      start = range[0]; end = range[1];
    }
    while (start < end && /\s/.test(text[start])) { start++; }
    while (end > start && /\s/.test(text[end - 1])) { end--; }
    if (start === end) { return false; }
    var inner = text.slice(start, end), weight = 1, matched = WEIGHTED.exec(inner);
    if (matched) {
      inner = matched[1]; weight = parseFloat(matched[2]);
    } else if (text[start - 1] === '(') {
      var after = /^:(-?\d+(?:\.\d+)?)\)/.exec(text.slice(end));
      if (after) { start -= 1; end += after[0].length; weight = parseFloat(after[1]); }
    }
    var step = parseFloat(option('keyedit_precision_attention', 0.1)) || 0.1;
    weight += event.key === 'ArrowUp' ? step : -step;
    var shown = formatWeight(weight, step);
    var replacement = parseFloat(shown) === 1 ? inner : '(' + inner + ':' + shown + ')';
    box.value = text.slice(0, start) + replacement + text.slice(end);
    var innerStart = replacement === inner ? start : start + 1;
    box.setSelectionRange(innerStart, innerStart + inner.length);
    box.dispatchEvent(new Event('input', {bubbles: true}));
    return true;
  }

  /* ---- emoji buttons: titles, and text where no emoji font draws them ---- */
  var TITLES = {
    '🔄': ['Refresh', 'Refresh the list'], '🎲': ['Random', 'Set seed to -1, which will cause a new random number to be used every time'],
    '♻️': ['Reuse', 'Reuse the seed of the image selected in the gallery (the first one when none is selected)'],
    '↙️': ['Paste', 'Read generation parameters from the prompt, or from the last generation if the prompt is empty'],
    '🗑️': ['Clear', 'Clear the prompt and the negative prompt'],
    '📋': ['Apply', 'Apply the selected styles to the current prompt'], '💾': ['Save', 'Save the prompts as a new style'],
    '⇅': ['Swap', 'Swap width and height'], '📐': ['Size', 'Use the size of the image'],
    '🎴': ['Networks', 'Show or hide the extra networks'], '🖌️': ['Edit', 'Edit the styles']
  };
  var LEADING_EMOJI = /^(\p{Extended_Pictographic}[\uFE0F\u200D\p{Extended_Pictographic}]*)\s*(.*)$/u;
  function emojiFontMissing() {
    /* an emoji with no font is drawn as the same empty box as an unassigned code point */
    try {
      var canvas = document.createElement('canvas'), context = canvas.getContext('2d');
      canvas.width = canvas.height = 24;
      function draw(text) {
        context.clearRect(0, 0, 24, 24);
        context.font = '20px sans-serif';
        context.fillText(text, 0, 20);
        return Array.prototype.join.call(context.getImageData(0, 0, 24, 24).data, ',');
      }
      return draw('\uD83D\uDD04') === draw('\uFFFF');
    } catch (error) { return false; }
  }
  var fallback = false;
  window.kestrelEmojiFallback = function (on) {
    /* without an emoji font the buttons would be empty boxes: they show their word instead */
    fallback = !!on;
    document.documentElement.classList.toggle('kestrel-no-emoji', fallback);
    root().querySelectorAll('button.kestrel-emoji').forEach(showLabel);
  };
  function showLabel(button) {
    if (!button.dataset.kestrelEmoji) { return; }
    var text = fallback ? button.dataset.kestrelLabel : button.dataset.kestrelEmoji;
    if (button.textContent.trim() !== text) { button.textContent = text; }
  }
  function labelButtons() {
    root().querySelectorAll('button').forEach(function (button) {
      if (button.dataset.kestrelLabel !== undefined) { return; }
      var text = (button.textContent || '').trim(), known = TITLES[text];
      var lead = known ? null : LEADING_EMOJI.exec(text);  // "🖼️ Send to img2img": an emoji, then words
      if (known) {
        button.dataset.kestrelLabel = known[0];
        button.dataset.kestrelEmoji = text;
        button.classList.add('kestrel-emoji');
        if (!button.title) { button.title = known[1]; }
        showLabel(button);
      } else if (lead) {  // "💾 Save": the word stays, the emoji goes when it cannot be drawn
        button.dataset.kestrelLabel = lead[2] || (TITLES[lead[1]] || ['?'])[0];
        button.dataset.kestrelEmoji = text;
        button.classList.add('kestrel-emoji');
        if (!button.title) { button.title = button.dataset.kestrelLabel; }
        showLabel(button);
      }
    });
  }

  /* ---- Settings search: a hit opens its section and shows the setting ---- */
  document.addEventListener('click', function (event) {
    var hit = event.target && event.target.closest ? event.target.closest('a.settings-search-hit') : null;
    if (!hit) { return; }
    event.preventDefault();
    var section = root().getElementById(hit.dataset.section + '-button');
    if (section) { section.click(); }
    var tries = 0, wait = setInterval(function () {
      var setting = root().getElementById(hit.dataset.setting);
      if (setting || ++tries > 30) {
        clearInterval(wait);
        if (setting) {
          setting.scrollIntoView({block: 'center'});
          setting.classList.add('kestrel-found');
          setTimeout(function () { setting.classList.remove('kestrel-found'); }, 2000);
        }
      }
    }, 100);
  }, true);

  var checked = false;
  new MutationObserver(function () {
    if (!checked && root().getElementById('tabs')) {
      checked = true;
      if (emojiFontMissing()) { window.kestrelEmojiFallback(true); }
    }
    labelButtons();
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
