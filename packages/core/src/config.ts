// The configuration documents live in ./config/ (one module per document); this file keeps the
// module path `./config` the rest of core imports, and replaces the dist/config.js of builds made
// before the split (a stale config.js would otherwise shadow config/index.js).
export * from './config/index';
