/**
 * The five social-insurance schemes (险种). Maternity insurance was merged into medical in most
 * regions by the end of 2019 (Guo Ban Fa [2019] No.10); it stays a scheme so that regions that still
 * run it separately can carry it in their policy rows.
 */
export const SCHEMES = ['pension', 'medical', 'unemployment', 'work_injury', 'maternity'] as const
export type Scheme = (typeof SCHEMES)[number]

/** Industry risk classes for work-injury insurance, I..VIII as 1..8 (Ren She Bu Fa [2015] No.71). */
export type WorkInjuryClass = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8
