// What the page has besides the DOM: uPlot's IIFE build (/assets/uplot.iife.min.js) defines
// the global `uPlot`, typed by the installed package.
declare const uPlot: typeof import("uplot")
