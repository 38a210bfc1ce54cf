'use strict';
/**
 * Appends each Jest run's counts to the file named by EFIKDUMP_TEST_SUMMARY, so that .ci/run can
 * print one closing line for all projects ("N passed, N failed, N skipped").
 */
const { appendFileSync } = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const file = process.env.EFIKDUMP_TEST_SUMMARY;
    if (!file) return;
    const line = [
      results.numPassedTests,
      results.numFailedTests,
      results.numPendingTests + results.numTodoTests,
      results.numFailedTestSuites + results.numRuntimeErrorTestSuites,
    ].join(' ');
    appendFileSync(file, line + '\n');
  }
}

module.exports = SummaryReporter;
