import { describe, expect, it } from 'vitest'
import { anyRunning, batchNameProblem, parseBatchName } from '../src/lib/batch'

describe('batch file names', () => {
  it('parses a name that fits the convention', () => {
    expect(parseBatchName('NUM_INTAKE_51_20261202_001.csv')).toEqual({ kind: 'NUM_INTAKE', province: '51', date: '20261202', seq: '001', ext: 'csv' })
    expect(parseBatchName('CARD_INTAKE_11_20261202_a7.xlsx')?.ext).toBe('xlsx')
  })
  it('refuses names the server refuses', () => {
    for (const bad of ['NUM_INTAKE_51_20261202_001.txt', '../x_51_20261202_001.csv', 'NUM_INTAKE_5_20261202_001.csv', 'num_intake_51_20261202_001.csv', 'NUM_INTAKE_51_2026120_001.csv', 'NUM_INTAKE_51_20261202_.csv', `NUM_INTAKE_51_20261202_${'1'.repeat(200)}.csv`]) {
      expect(parseBatchName(bad), bad).toBeNull()
      expect(batchNameProblem(bad, null), bad).toBe('name')
    }
  })
  it('checks the kind and the province scope', () => {
    expect(batchNameProblem('NUM_INTAKE_51_20261202_001.csv', ['51'])).toBeNull()
    expect(batchNameProblem('NUM_INTAKE_51_20261202_001.csv', null)).toBeNull()
    expect(batchNameProblem('BSDM_ORG_51_20261202_001.csv', ['51'])).toBe('kind')
    expect(batchNameProblem('NUM_INTAKE_11_20261202_001.csv', ['51'])).toBe('province')
  })
  it('polls while a job runs', () => {
    expect(anyRunning([{ status: 'done' }, { status: 'running' }])).toBe(true)
    expect(anyRunning([{ status: 'done' }, { status: 'failed' }])).toBe(false)
  })
})
