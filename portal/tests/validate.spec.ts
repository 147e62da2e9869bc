import { describe, expect, it } from 'vitest'
import { centsToYuan, firstProblem, iccidProblem, imsiProblem, luhnDigit, phoneProblem, splitList, yuanToCents } from '../src/lib/validate'

// An ICCID with a right check digit, built the way the card tests do.
const valid = (payload: string) => payload + luhnDigit(payload)

describe('phone numbers', () => {
  it('accepts 11 digits starting with 1', () => {
    expect(phoneProblem('13012345678')).toBeNull()
    expect(phoneProblem(' 18600000000 ')).toBeNull()
  })
  it('names what is wrong', () => {
    expect(phoneProblem('1301234567')).toBe('validate.phoneLength')
    expect(phoneProblem('130123456789')).toBe('validate.phoneLength')
    expect(phoneProblem('23012345678')).toBe('validate.phoneStart')
    expect(phoneProblem('1301234567a')).toBe('validate.phoneDigits')
    expect(phoneProblem('')).toBe('validate.phoneDigits')
  })
})

describe('ICCID', () => {
  it('computes the Luhn digit of known numbers', () => {
    // 7992739871 → 3 is the textbook example of the Luhn algorithm.
    expect(luhnDigit('7992739871')).toBe('3')
    // The server's own test vector (services/card/src/iccid.rs).
    expect(luhnDigit('898601178820110022')).toBe('8')
  })
  it('accepts 19 and 20 digits with the operator prefix and a right check digit', () => {
    expect(iccidProblem(valid('898601123456789012'))).toBeNull()
    expect(iccidProblem(valid('8986061234567890123'))).toBeNull()
    expect(iccidProblem(valid('898609000000000000'))).toBeNull()
  })
  it('refuses a wrong check digit, length, prefix or letters', () => {
    const ok = valid('898601123456789012')
    const wrong = ok.slice(0, -1) + String((Number(ok.slice(-1)) + 1) % 10)
    expect(iccidProblem(wrong)).toBe('validate.iccidLuhn')
    expect(iccidProblem(valid('89860112345678901'))).toBe('validate.iccidLength')
    expect(iccidProblem(valid('89860112345678901234'))).toBe('validate.iccidLength')
    expect(iccidProblem(valid('898602123456789012'))).toBe('validate.iccidPrefix')
    expect(iccidProblem('89860112345678901F')).toBe('validate.iccidDigits')
  })
  it('agrees with the server on every single-digit error (Luhn catches them all)', () => {
    const ok = valid('898601987654321000')
    for (let i = 6; i < ok.length; i++) {
      for (let d = 0; d <= 9; d++) {
        if (String(d) === ok[i]) continue
        const changed = ok.slice(0, i) + d + ok.slice(i + 1)
        expect(iccidProblem(changed)).toBe('validate.iccidLuhn')
      }
    }
  })
})

describe('IMSI and lists', () => {
  it('checks IMSIs of the operator', () => {
    expect(imsiProblem('460011234567890')).toBeNull()
    expect(imsiProblem('460021234567890')).toBe('validate.imsiNetwork')
    expect(imsiProblem('46001123456789')).toBe('validate.imsiShape')
  })
  it('splits pasted lists and finds the first bad entry', () => {
    expect(splitList('13012345678\n13012345679, 13012345680；13012345681 ')).toEqual([
      '13012345678', '13012345679', '13012345680', '13012345681',
    ])
    expect(firstProblem(['13012345678', '1301', '2'], phoneProblem)).toEqual({ item: '1301', problem: 'validate.phoneLength' })
    expect(firstProblem(['13012345678'], phoneProblem)).toBeNull()
  })
  it('turns yuan into cents and back', () => {
    expect(yuanToCents('12.5')).toBe(1250)
    expect(yuanToCents('0.07')).toBe(7)
    expect(yuanToCents('3')).toBe(300)
    expect(yuanToCents('1.234')).toBeNull()
    expect(yuanToCents('-1')).toBeNull()
    expect(centsToYuan(1250)).toBe('12.50')
    expect(centsToYuan(7)).toBe('0.07')
  })
})
