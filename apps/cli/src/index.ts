export { main, runCli } from './main';
export { createContainer } from './container';
export { loadDesign, loadScenario, builtinDesigns, builtinScenarios } from './library';
