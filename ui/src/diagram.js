// The BPMN diagram: a bpmn-js NavigatedViewer (pan and zoom, no editing) with
// helpers for overlays and markers.
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import { api } from './api.js';

/**
 * showDiagram renders the deployed XML of processId (version optional) into
 * container and returns the viewer API, or throws when the model has no
 * diagram.
 */
export async function showDiagram(container, processId, version, onClick) {
  const xml = await api.xml(`/models/${encodeURIComponent(processId)}/xml${version ? `?version=${version}` : ''}`);
  const viewer = new NavigatedViewer({ container });
  const { warnings } = await viewer.importXML(xml);
  if (warnings && warnings.length) console.warn('bpmn-js import warnings', warnings);
  const canvas = viewer.get('canvas');
  const overlays = viewer.get('overlays');
  const registry = viewer.get('elementRegistry');
  const fit = () => {
    // Fit, then leave room around the diagram for the overlays above and below shapes.
    canvas.zoom('fit-viewport', 'auto');
    const vb = canvas.viewbox();
    const pad = Math.max(vb.width, vb.height) * 0.04;
    canvas.viewbox({ x: vb.x - pad, y: vb.y - pad, width: vb.width + 2 * pad, height: vb.height + 2 * pad });
  };
  fit();
  if (onClick) {
    viewer.get('eventBus').on('element.click', (e) => {
      const el = e.element;
      if (el && el.type !== 'bpmn:Process' && !el.type.endsWith('Collaboration')) onClick(el.id, el);
    });
  }
  return {
    viewer,
    has: (id) => !!registry.get(id),
    element: (id) => registry.get(id),
    elements: () => registry.getAll().filter((e) => !e.labelTarget && e.type !== 'bpmn:Process'),
    marker: (id, cls) => { if (registry.get(id)) canvas.addMarker(id, cls); },
    unmarker: (id, cls) => { if (registry.get(id)) canvas.removeMarker(id, cls); },
    overlay: (id, position, html, type = 'tracker') => {
      if (!registry.get(id)) return null;
      return overlays.add(id, type, { position, html, show: { minZoom: 0.3 } });
    },
    clearOverlays: (type = 'tracker') => overlays.remove({ type }),
    fit,
    zoom: (f) => canvas.zoom(canvas.zoom() * f),
    destroy: () => viewer.destroy(),
  };
}

/** zoomControls returns the HTML of the fit / zoom buttons for a diagram card. */
export function zoomControls() {
  return `<div class="zoom-controls"><button type="button" data-zoom="in" title="Zoom in">+</button><button type="button" data-zoom="out" title="Zoom out">−</button><button type="button" data-zoom="fit" title="Fit to view">⤢</button></div>`;
}

/** wireZoom connects the buttons made by zoomControls inside root to d. */
export function wireZoom(root, d) {
  root.querySelectorAll('[data-zoom]').forEach((b) => b.addEventListener('click', () => {
    if (b.dataset.zoom === 'fit') d.fit();
    else d.zoom(b.dataset.zoom === 'in' ? 1.25 : 0.8);
  }));
}

/** noDiagram stands in for a diagram that could not be shown: every call is a no-op. */
export function noDiagram() {
  const nop = () => null;
  return { viewer: null, has: () => false, element: nop, elements: () => [], marker: nop, unmarker: nop, overlay: nop, clearOverlays: nop, fit: nop, zoom: nop, destroy: nop };
}
