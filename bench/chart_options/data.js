// Overview-shaped data: 84 days of DAU/WAU/MAU, 6 segments x 12 weeks of PES, 5 features,
// 12 weeks of lifecycle, 6 retention curves x 12 weeks with intervals (a fixed PRNG).
let s = 7; const r = () => (s = (s * 16807) % 2147483647) / 2147483647;
const day = i => new Date(Date.UTC(2026, 0, 1) + i * 86400000).toISOString().slice(0, 10);
export const days = Array.from({ length: 84 }, (_, i) => ({ day: day(i), dau: Math.round(4000 + 800 * r()), wau: Math.round(7000 + 500 * r()), mau: Math.round(9000 + 300 * r()) }));
export const weeks = Array.from({ length: 12 }, (_, i) => day(i * 7));
export const trend = Array.from({ length: 6 }, (_, k) => ({ name: `seg-${k} · 2.${k}`, points: weeks.map(w => ({ x: w, y: 30 + 40 * r() })) }));
export const feats = ["calibrate", "export", "recipes", "jog", "spindle"].map(f => ({ label: f, v: 100 * r() }));
export const life = weeks.map((w, i) => ({ period_start: w, new: i ? Math.round(300 * r()) : 9000, recovered: Math.round(200 * r()), dropped: Math.round(400 * r()), quick_ratio: i ? 0.5 + r() : 40 }));
export const curves = Array.from({ length: 6 }, (_, k) => ({ name: `g${k}`, points: Array.from({ length: 12 }, (_, w) => { const y = w ? 20 + 60 * r() : 100; return { x: w, y, lo: Math.max(0, y - 8), hi: Math.min(100, y + 8) }; }) }));
