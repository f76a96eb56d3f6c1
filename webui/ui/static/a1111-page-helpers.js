/* A1111's page helpers that extension scripts call, written for Kestrel's page (our own small versions).
 *
 * gradioApp(), get_uiCurrentTab(), get_uiCurrentTabContent(), updateInput(), switch_to_txt2img() / img2img() /
 * extras() / inpaint(), the callback registrations onUiLoaded, onUiUpdate, onAfterUiUpdate, onUiTabChange,
 * onOptionsChanged, and `opts` (the settings, read from /kestrel/v1/a1111/opts when the page opens).
 * onUiLoaded fires once the tabs exist and `opts` is filled, as in A1111.
 */
(function () {
  if (window.gradioApp) { return; }
  var callbacks = {loaded: [], update: [], tabChange: [], options: []};
  function run(list, argument) {
    list.forEach(function (callback) {
      try { callback(argument); } catch (error) { console.error('extension callback failed', error); }
    });
  }
  window.gradioApp = function () {
    var app = document.getElementsByTagName('gradio-app')[0];
    return app && app.shadowRoot ? app.shadowRoot : document;
  };
  window.opts = {};
  /* A1111 puts extension scripts in the page's HTML, so they may wait for DOMContentLoaded; Gradio 6 runs its
   * `head` after that event, so a listener added late is called right away (asynchronously, as the event would). */
  var addListener = document.addEventListener.bind(document);
  document.addEventListener = function (type, listener, options) {
    if (type === 'DOMContentLoaded' && document.readyState !== 'loading') {
      setTimeout(function () { (listener.handleEvent || listener).call(document, new Event('DOMContentLoaded')); });
      return;
    }
    return addListener(type, listener, options);
  };
  window.executeCallbacks = run;
  window.onUiLoaded = function (callback) { callbacks.loaded.push(callback); };
  window.onUiUpdate = function (callback) { callbacks.update.push(callback); };
  window.onAfterUiUpdate = window.onUiUpdate;
  window.onUiTabChange = function (callback) { callbacks.tabChange.push(callback); };
  window.onOptionsChanged = function (callback) { callbacks.options.push(callback); };

  window.get_uiCurrentTab = function () {
    return gradioApp().querySelector('#tabs > .tab-nav > button.selected, #tabs [role=tablist] > button[aria-selected=true]');
  };
  window.get_uiCurrentTabContent = function () {
    var button = get_uiCurrentTab();
    var id = button && button.id ? button.id.replace(/-button$/, '') : null;
    return id ? gradioApp().getElementById(id) : null;
  };
  window.updateInput = function (target) {
    var event = new Event('input', {bubbles: true});
    Object.defineProperty(event, 'target', {value: target});
    target.dispatchEvent(event);
    return target;
  };
  window.uiElementIsVisible = function (element) { return !!element && element.offsetParent !== null; };
  window.uiElementInSight = function (element) {
    var rect = element.getBoundingClientRect();
    return rect.top < window.innerHeight && rect.bottom > 0;
  };
  function switchTo(tabId, subTab) {
    var button = gradioApp().querySelector('#tab_' + tabId + '-button');
    if (button) { button.click(); }
    if (subTab) {
      var inner = gradioApp().querySelector('#' + subTab + '-button');
      if (inner) { inner.click(); }
    }
    return Array.from(arguments);
  }
  window.switch_to_txt2img = function () { switchTo('txt2img'); return Array.from(arguments); };
  window.switch_to_img2img = function () { switchTo('img2img'); return Array.from(arguments); };
  window.switch_to_extras = function () { switchTo('extras'); return Array.from(arguments); };
  window.switch_to_inpaint = function () { switchTo('img2img', 'img2img_inpaint_tab'); return Array.from(arguments); };
  window.switch_to_img2img_tab = function (index) { switchTo('img2img'); return Array.from(arguments); };

  var tabsSeen = false, optsLoaded = false, loadedFired = false, currentTab = null;
  function maybeLoaded() {
    if (!loadedFired && tabsSeen && optsLoaded) {
      loadedFired = true;
      run(callbacks.loaded);
    }
  }
  fetch('/kestrel/v1/a1111/opts', {credentials: 'same-origin'})
    .then(function (response) { return response.ok ? response.json() : {}; })
    .catch(function () { return {}; })
    .then(function (values) {
      Object.assign(window.opts, values);
      optsLoaded = true;
      run(callbacks.options);
      maybeLoaded();
    });
  var observer = new MutationObserver(function (mutations) {
    if (!tabsSeen && gradioApp().querySelector('#tabs')) {
      tabsSeen = true;
      maybeLoaded();
    }
    run(callbacks.update, mutations);
    var tab = get_uiCurrentTab();
    if (tab && tab !== currentTab) {
      currentTab = tab;
      run(callbacks.tabChange);
    }
  });
  observer.observe(document.documentElement, {childList: true, subtree: true});
})();
