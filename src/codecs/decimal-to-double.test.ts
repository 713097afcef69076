import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decimalToDouble } from './decimal-to-double.js';
import { nearPowerOfTwoTexts } from '../../test/helpers/near-powers-of-two.js';

/** Splits a plain decimal string the way the CSV scanner does. */
function parts(text: string): [number, number, number, number] {
  const [ip = '', fp = ''] = text.split('.');
  const digits = (ip + fp).replace(/^0+/, '');
  const head = digits.slice(0, 15);
  const rest = digits.slice(15);
  return [Number(head || '0'), rest.length, rest === '' ? 0 : Number(rest), -fp.length];
}

test('decimalToDouble equals Number() or declines (NaN), never differs', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  let decided = 0;
  for (let i = 0; i < 20000; i++) {
    const x = random() * 10 ** Math.floor(random() * 8 - 3);
    const text = [x.toPrecision(16), x.toPrecision(17), x.toPrecision(18), x.toPrecision(19), String(x)][i % 5]!;
    if (text.includes('e')) continue;
    const [a, r, b, e] = parts(text);
    if (r > 4 || e < -22) continue;
    const v = decimalToDouble(a, r, b, e);
    if (Number.isNaN(v)) continue;
    decided++;
    assert.equal(v, Number(text), text);
  }
  assert.ok(decided > 15000, `decided only ${decided}`);
});

test('decimalToDouble handles exact ties by declining or rounding to even', () => {
  for (const text of ['9007199254740993', '9007199254740995', '123456789012345678', '9999999999999999999', '1.00000000000000011']) {
    const v = decimalToDouble(...parts(text));
    assert.ok(Number.isNaN(v) || v === Number(text), text);
  }
  assert.equal(decimalToDouble(0, 0, 0, -5), 0);
});

test('decimalToDouble next to a power of two, where the doubles below are twice as dense: equals Number() or declines', () => {
  let decided = 0;
  let checked = 0;
  for (const text of nearPowerOfTwoTexts(-70, 70)) {
    if (text.includes('e')) continue;
    const [a, r, b, e] = parts(text);
    if (r > 4 || e < -22) continue;
    checked++;
    const v = decimalToDouble(a, r, b, e);
    if (Number.isNaN(v)) continue;
    decided++;
    // 0.9999999999999999 (the double below 1, as String() writes it) was read as 1.
    assert.ok(Object.is(v, Number(text)), `${text}: ${v} != ${Number(text)}`);
  }
  assert.ok(checked > 600 && decided > checked * 0.9, `decided ${decided} of ${checked}`);
  assert.equal(decimalToDouble(...parts('0.9999999999999999')), 0.9999999999999999);
  assert.equal(decimalToDouble(...parts('1.9999999999999998')), 1.9999999999999998);
});
