import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { versionText } from './version.js';

describe('versionText', () => {
  test('the version alone, or with the short commit and whether the tree was modified', () => {
    assert.equal(versionText({ version: '1.2.3', commit: null, modified: null }), '1.2.3');
    const commit = '1003918abcdef0123456789abcdef0123456789a';
    assert.equal(versionText({ version: '1.2.3', commit, modified: false }), '1.2.3 (commit 1003918abcde)');
    assert.equal(versionText({ version: '1.2.3', commit, modified: true }), '1.2.3 (commit 1003918abcde, modified)');
  });
});
