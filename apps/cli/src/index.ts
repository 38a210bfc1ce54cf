export { main, runCli } from './main';
export { createContainer } from './container';
export { loadDesign, loadScenario, builtinDesigns, builtinScenarios, checkDetectorReadsTransport } from './library';
