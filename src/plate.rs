//! A two-drug dose-response plate: the one input of the synergy layer.
//!
//! A [`Plate`] holds wells `(dose_a, dose_b, response[, replicate])` where `response` is
//! the viable fraction (1 = untreated, 0 = all dead). The same type carries measured lab
//! data (read from CSV) and simulated checkerboards (written to CSV by the assay layer),
//! so both go through one validation path.
//!
//! CSV format (long, one well per line, header required, columns in any order):
//! `dose_a,dose_b,response[,replicate][,drug_a,drug_b,unit_a,unit_b][,block]`. With
//! [`CsvOptions::percent_inhibition`] the `response` column holds percent inhibition and
//! is converted to `1 - pct/100` before validation.
//!
//! SynergyFinder's input layout is read directly: `PairIndex` (or `block_id`),
//! `Response`, `Drug1`, `Drug2`, `Conc1`, `Conc2`, `ConcUnit` (or `conc_unit1`,
//! `conc_unit2`), with responses as percent inhibition; repeated dose pairs within a
//! block are replicates. A file may hold several plates (blocks: the `block` column,
//! or SynergyFinder's `PairIndex`); [`Plate::blocks_from_csv_path`] returns them all.
//!
//! Responses are kept as measured: plate noise makes viable fractions slightly negative
//! or above 1, and both are normal ([`Plate::out_of_unit_range`] counts them). Only values
//! below [`MIN_RESPONSE`] or above [`MAX_RESPONSE`] are rejected, and an untreated control
//! near 0 is rejected with a hint, because that is inhibition data read as viability.
//!
//! [`Grid`] is the checkerboard view used by every scoring method: distinct doses per
//! drug (ascending, the first one zero), replicate values and mean per cell.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use crate::output::atomic::write_atomic;

/// Smallest accepted viable fraction: background subtraction and noise push dead wells
/// a little below 0; far below it the column is not a viable fraction.
pub const MIN_RESPONSE: f64 = -0.25;

/// Largest accepted viable fraction. Above 1 is normal noise or mild growth stimulation;
/// far above it almost always means the column holds percent or raw luminescence.
pub const MAX_RESPONSE: f64 = 1.5;

/// Fewest distinct doses (zero included) a drug needs: a 4-parameter Hill curve cannot be
/// estimated from fewer points.
pub const MIN_DOSES: usize = 4;

/// Where a well came from: a CSV file and line, or a row of an in-memory plate.
#[derive(Debug, Clone, PartialEq)]
pub struct Loc {
    /// File name, or `<plate>` for a plate built in memory.
    pub source: String,
    /// 1-based line in the file (header = line 1); for in-memory plates the 0-based row.
    pub line: u64,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source == IN_MEMORY {
            write!(f, "row {}", self.line)
        } else {
            write!(f, "{} line {}", self.source, self.line)
        }
    }
}

const IN_MEMORY: &str = "<plate>";

/// Everything that can be wrong with a plate, with the facts needed to fix it.
#[derive(Debug, thiserror::Error)]
pub enum PlateError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: malformed CSV: {message}")]
    Csv { at: Loc, message: String },
    #[error("{source_name}: required column `{column}` is missing (header: {header}; expected dose_a,dose_b,response or SynergyFinder's PairIndex,Response,Drug1,Drug2,Conc1,Conc2,ConcUnit)")]
    MissingColumn {
        source_name: String,
        column: &'static str,
        header: String,
    },
    #[error("{at}: field `{field}` = {value:?} is not a number")]
    NotANumber {
        at: Loc,
        field: &'static str,
        value: String,
    },
    #[error("{at}: field `{field}` = {value} must be finite and >= 0")]
    BadDose {
        at: Loc,
        field: &'static str,
        value: f64,
    },
    #[error("{at}: response {value:?} is not a number (NaN or infinite)")]
    NonFiniteResponse { at: Loc, value: String },
    #[error("{at}: response {value:?} is below {min} (a viable fraction is between 0 and 1, give or take plate noise){hint}")]
    NegativeResponse {
        at: Loc,
        value: String,
        min: f64,
        hint: String,
    },
    #[error(
        "{at}: response {value:?} is above {max} (is the column percent or raw signal?){hint}"
    )]
    ResponseTooHigh {
        at: Loc,
        value: String,
        max: f64,
        hint: String,
    },
    #[error("{source_name}{block}: the untreated control (dose_a = dose_b = 0) has mean response {control}, but a viable fraction is about 1 there; {hint}")]
    LooksLikeInhibition {
        source_name: String,
        block: String,
        control: f64,
        hint: String,
    },
    #[error("{at}: duplicate well dose_a={dose_a}, dose_b={dose_b}{rep} (first at {first}); add a `replicate` column if these are replicates")]
    DuplicateWell {
        at: Loc,
        first: Loc,
        dose_a: f64,
        dose_b: f64,
        rep: String,
    },
    #[error("{at}: replicate given on some rows but not others")]
    MixedReplicate { at: Loc },
    #[error("{at}: `{field}` is {found:?} but {expected:?} elsewhere on the plate")]
    UnitMismatch {
        at: Loc,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("{at}: `{field}` is {found:?} but {expected:?} elsewhere on the plate (one plate = one drug pair)")]
    DrugMismatch {
        at: Loc,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("plate has no wells")]
    Empty,
    #[error("{source_name} holds {n} blocks ({names}); read it with Plate::blocks_from_csv_path")]
    SeveralBlocks {
        source_name: String,
        n: usize,
        names: String,
    },
    #[error("no zero-dose {which} for drug {drug}: single-agent wells of {drug} need {other} = 0")]
    MissingZeroDose {
        drug: String,
        which: &'static str,
        other: &'static str,
    },
    #[error("single-agent well missing for {drug} at dose {dose} {unit}")]
    MissingSingleAgent {
        drug: String,
        dose: f64,
        unit: String,
    },
    #[error(
        "drug {drug} has {found} distinct doses (zero included); at least {needed} are needed"
    )]
    TooFewDoses {
        drug: String,
        found: usize,
        needed: usize,
    },
    #[error("cannot write plate {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Name and concentration unit of one drug.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DrugInfo {
    pub name: String,
    pub unit: String,
}

impl DrugInfo {
    pub fn new(name: impl Into<String>, unit: impl Into<String>) -> Self {
        DrugInfo {
            name: name.into(),
            unit: unit.into(),
        }
    }
}

/// One measured well.
#[derive(Debug, Clone, PartialEq)]
pub struct Well {
    pub dose_a: f64,
    pub dose_b: f64,
    /// Viable fraction, 1 = untreated.
    pub response: f64,
    pub replicate: Option<String>,
}

/// A validated two-drug plate. Construct with [`Plate::new`] or [`Plate::from_csv_path`];
/// both reject NaN or implausible responses (below [`MIN_RESPONSE`], above
/// [`MAX_RESPONSE`], an untreated control near 0) and duplicate wells.
#[derive(Debug, Clone, PartialEq)]
pub struct Plate {
    drug_a: DrugInfo,
    drug_b: DrugInfo,
    wells: Vec<Well>,
}

/// Options for CSV import. Names/units given here fill in or override the file's.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// The `response` column is percent inhibition: viable fraction = 1 - pct/100.
    pub percent_inhibition: bool,
    /// Drug names; take precedence over `drug_a`/`drug_b` columns (renaming is harmless).
    pub drug_a: Option<String>,
    pub drug_b: Option<String>,
    /// Units; must agree with `unit_a`/`unit_b` columns when both exist, because a
    /// disagreement means the doses are on a different scale than the caller thinks.
    pub unit_a: Option<String>,
    pub unit_b: Option<String>,
}

impl Plate {
    /// Build and validate a plate from wells held in memory (errors cite the row index).
    pub fn new(drug_a: DrugInfo, drug_b: DrugInfo, wells: Vec<Well>) -> Result<Plate, PlateError> {
        let locs: Vec<Loc> = (0..wells.len())
            .map(|i| Loc {
                source: IN_MEMORY.to_string(),
                line: i as u64,
            })
            .collect();
        let raw: Vec<String> = wells.iter().map(|w| w.response.to_string()).collect();
        check_control(&wells, &raw, IN_MEMORY, "", false)?;
        validate(&wells, &locs, &raw)?;
        Ok(Plate {
            drug_a,
            drug_b,
            wells,
        })
    }

    /// Read a plate from a CSV file (one block; see [`Plate::from_csv_reader`]).
    pub fn from_csv_path(path: &Path, opts: &CsvOptions) -> Result<Plate, PlateError> {
        one_block(
            Plate::blocks_from_csv_path(path, opts)?,
            &path.display().to_string(),
        )
    }

    /// Read a plate from any CSV source; `source_name` is used in error messages. A file
    /// with several blocks is an error here (use [`Plate::blocks_from_csv_reader`]).
    pub fn from_csv_reader(
        reader: impl Read,
        source_name: &str,
        opts: &CsvOptions,
    ) -> Result<Plate, PlateError> {
        one_block(parse_csv(reader, source_name, opts)?, source_name)
    }

    /// Read every block (plate) of a CSV file, in order of first appearance.
    pub fn blocks_from_csv_path(path: &Path, opts: &CsvOptions) -> Result<Vec<Block>, PlateError> {
        let file = std::fs::File::open(path).map_err(|source| PlateError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Plate::blocks_from_csv_reader(file, &path.display().to_string(), opts)
    }

    /// Read every block of any CSV source.
    pub fn blocks_from_csv_reader(
        reader: impl Read,
        source_name: &str,
        opts: &CsvOptions,
    ) -> Result<Vec<Block>, PlateError> {
        parse_csv(reader, source_name, opts)
    }

    /// Wells whose response is below 0 and above 1 (kept: plate noise), in that order.
    pub fn out_of_unit_range(&self) -> (usize, usize) {
        let below = self.wells.iter().filter(|w| w.response < 0.0).count();
        let above = self.wells.iter().filter(|w| w.response > 1.0).count();
        (below, above)
    }

    pub fn drug_a(&self) -> &DrugInfo {
        &self.drug_a
    }
    pub fn drug_b(&self) -> &DrugInfo {
        &self.drug_b
    }
    pub fn wells(&self) -> &[Well] {
        &self.wells
    }
    /// True when wells carry replicate labels.
    pub fn has_replicates(&self) -> bool {
        self.wells.first().is_some_and(|w| w.replicate.is_some())
    }

    /// Write the plate in the import format (viable fraction, drug names and units in
    /// every row), so `Plate::from_csv_reader` reads back an equal plate.
    pub fn write_csv(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let reps = self.has_replicates();
        let mut out = csv::Writer::from_writer(w);
        let mut header = vec!["dose_a", "dose_b", "response"];
        if reps {
            header.push("replicate");
        }
        header.extend(["drug_a", "drug_b", "unit_a", "unit_b"]);
        out.write_record(&header)?;
        for well in &self.wells {
            let mut rec = vec![
                fmt_f64(well.dose_a),
                fmt_f64(well.dose_b),
                fmt_f64(well.response),
            ];
            if reps {
                rec.push(well.replicate.clone().unwrap_or_default());
            }
            rec.extend([
                self.drug_a.name.clone(),
                self.drug_b.name.clone(),
                self.drug_a.unit.clone(),
                self.drug_b.unit.clone(),
            ]);
            out.write_record(&rec)?;
        }
        out.flush()
    }

    /// Write the plate to `path` atomically (temporary name, then rename).
    pub fn save_csv(&self, path: &Path) -> Result<(), PlateError> {
        write_atomic(path, |w| self.write_csv(w)).map_err(|source| PlateError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// Distinct doses of drug A, ascending (doses equal within 1e-9 relative are one).
    pub fn doses_a(&self) -> Vec<f64> {
        distinct(self.wells.iter().map(|w| w.dose_a))
    }
    /// Distinct doses of drug B, ascending.
    pub fn doses_b(&self) -> Vec<f64> {
        distinct(self.wells.iter().map(|w| w.dose_b))
    }

    /// The checkerboard view; checks the zero-dose row and column and the dose counts.
    pub fn grid(&self) -> Result<Grid, PlateError> {
        Grid::from_plate(self)
    }
}

/// Shortest decimal that reads back to the same `f64`.
fn fmt_f64(x: f64) -> String {
    format!("{x}")
}

/// Two doses are the same dose when they agree to 1e-9 relative: doses computed by a
/// simulator as `c * 2^k` and doses typed by hand should land in the same cell.
pub fn same_dose(x: f64, y: f64) -> bool {
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
}

fn distinct(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| same_dose(*a, *b));
    v
}

fn index_of(doses: &[f64], d: f64) -> Option<usize> {
    let i = doses.partition_point(|&x| x < d && !same_dose(x, d));
    (i < doses.len() && same_dose(doses[i], d)).then_some(i)
}

/// Row-level checks shared by CSV import and in-memory construction. `raw` is the
/// response as the user wrote it (percent or fraction), quoted back in errors.
fn validate(wells: &[Well], locs: &[Loc], raw: &[String]) -> Result<(), PlateError> {
    if wells.is_empty() {
        return Err(PlateError::Empty);
    }
    let reps = wells[0].replicate.is_some();
    let mut seen: HashMap<(u64, u64, Option<&str>), usize> = HashMap::new();
    for (i, w) in wells.iter().enumerate() {
        let at = || locs[i].clone();
        for (field, value) in [("dose_a", w.dose_a), ("dose_b", w.dose_b)] {
            if !value.is_finite() || value < 0.0 {
                return Err(PlateError::BadDose {
                    at: at(),
                    field,
                    value,
                });
            }
        }
        let r = w.response;
        if !r.is_finite() {
            return Err(PlateError::NonFiniteResponse {
                at: at(),
                value: raw[i].clone(),
            });
        }
        if r < MIN_RESPONSE {
            return Err(PlateError::NegativeResponse {
                at: at(),
                value: raw[i].clone(),
                min: MIN_RESPONSE,
                hint: String::new(),
            });
        }
        if r > MAX_RESPONSE {
            let hint = if r > 10.0 {
                "; values like this are percent: percent inhibition needs --percent-inhibition, percent viability needs dividing by 100"
            } else {
                ""
            };
            return Err(PlateError::ResponseTooHigh {
                at: at(),
                value: raw[i].clone(),
                max: MAX_RESPONSE,
                hint: hint.to_string(),
            });
        }
        if w.replicate.is_some() != reps {
            return Err(PlateError::MixedReplicate { at: at() });
        }
        // Key on rounded doses so that `same_dose` neighbours collide.
        let key = (
            dose_key(w.dose_a),
            dose_key(w.dose_b),
            w.replicate.as_deref(),
        );
        if let Some(&first) = seen.get(&key) {
            return Err(PlateError::DuplicateWell {
                at: at(),
                first: locs[first].clone(),
                dose_a: w.dose_a,
                dose_b: w.dose_b,
                rep: w
                    .replicate
                    .as_ref()
                    .map(|r| format!(", replicate={r}"))
                    .unwrap_or_default(),
            });
        }
        seen.insert(key, i);
    }
    Ok(())
}

/// Dose rounded to 9 significant digits, as bits, for hashing.
fn dose_key(d: f64) -> u64 {
    if d == 0.0 {
        return 0;
    }
    let e = d.abs().log10().floor() as i32;
    let scale = 10f64.powi(8 - e);
    ((d * scale).round() / scale).to_bits()
}

/// Where each field sits in the header, for either layout.
struct Columns {
    dose_a: usize,
    dose_b: usize,
    response: usize,
    replicate: Option<usize>,
    drug_a: Option<usize>,
    drug_b: Option<usize>,
    unit_a: Option<usize>,
    unit_b: Option<usize>,
    block: Option<usize>,
    /// SynergyFinder layout: responses are percent inhibition, repeats are replicates.
    synergyfinder: bool,
    /// Field names as the file spells them, for error messages.
    names: [&'static str; 3],
}

impl Columns {
    fn of(header: &[String], name: &str) -> Result<Columns, PlateError> {
        let find = |c: &str| header.iter().position(|h| h == c);
        let any = |cs: &[&str]| cs.iter().find_map(|c| find(c));
        let need = |c: &'static str| {
            find(c).ok_or_else(|| PlateError::MissingColumn {
                source_name: name.to_string(),
                column: c,
                header: header.join(","),
            })
        };
        if find("dose_a").is_none() && find("conc1").is_some() {
            let unit = any(&["concunit", "conc_unit"]);
            return Ok(Columns {
                dose_a: need("conc1")?,
                dose_b: need("conc2")?,
                response: need("response")?,
                replicate: None,
                drug_a: find("drug1"),
                drug_b: find("drug2"),
                unit_a: find("conc_unit1").or(unit),
                unit_b: find("conc_unit2").or(unit),
                block: any(&["pairindex", "block_id", "blockid"]),
                synergyfinder: true,
                names: ["conc1", "conc2", "response"],
            });
        }
        Ok(Columns {
            dose_a: need("dose_a")?,
            dose_b: need("dose_b")?,
            response: need("response")?,
            replicate: find("replicate"),
            drug_a: find("drug_a"),
            drug_b: find("drug_b"),
            unit_a: find("unit_a"),
            unit_b: find("unit_b"),
            block: find("block"),
            synergyfinder: false,
            names: ["dose_a", "dose_b", "response"],
        })
    }
}

/// One plate of a multi-plate file.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The `block` / `PairIndex` value; `None` for a file without block column.
    pub id: Option<String>,
    pub plate: Plate,
}

/// Rows of one block while reading.
struct RawBlock {
    id: Option<String>,
    wells: Vec<Well>,
    locs: Vec<Loc>,
    raw: Vec<String>,
    /// Per-plate text fields: (field, value seen first, where), checked for consistency.
    text: [(&'static str, Option<(String, Loc)>); 4],
    /// SynergyFinder layout: occurrences of each dose pair so far (replicate numbers).
    seen: HashMap<(u64, u64), usize>,
}

fn parse_csv(reader: impl Read, name: &str, opts: &CsvOptions) -> Result<Vec<Block>, PlateError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(reader);
    let header = rdr
        .headers()
        .map_err(|e| csv_error(name, 1, e))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect::<Vec<_>>();
    let cols = Columns::of(&header, name)?;
    let percent = opts.percent_inhibition || cols.synergyfinder;

    let mut blocks: Vec<RawBlock> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            csv_error(name, line, e)
        })?;
        let at = Loc {
            source: name.to_string(),
            line: rec.position().map(|p| p.line()).unwrap_or(0),
        };
        let num = |field: &'static str, idx: usize| -> Result<f64, PlateError> {
            let s = rec.get(idx).unwrap_or("");
            s.parse::<f64>().map_err(|_| PlateError::NotANumber {
                at: at.clone(),
                field,
                value: s.to_string(),
            })
        };
        let dose_a = num(cols.names[0], cols.dose_a)?;
        let dose_b = num(cols.names[1], cols.dose_b)?;
        let value = num(cols.names[2], cols.response)?;
        let response = if percent { 1.0 - value / 100.0 } else { value };
        let id = cols.block.map(|i| rec.get(i).unwrap_or("").to_string());
        let k = match blocks.iter().position(|b| b.id == id) {
            Some(k) => k,
            None => {
                blocks.push(RawBlock {
                    id: id.clone(),
                    wells: Vec::new(),
                    locs: Vec::new(),
                    raw: Vec::new(),
                    text: [
                        ("drug_a", None),
                        ("drug_b", None),
                        ("unit_a", None),
                        ("unit_b", None),
                    ],
                    seen: HashMap::new(),
                });
                blocks.len() - 1
            }
        };
        let block = &mut blocks[k];
        let replicate = if cols.synergyfinder {
            let n = block
                .seen
                .entry((dose_key(dose_a), dose_key(dose_b)))
                .or_insert(0);
            *n += 1;
            Some(n.to_string())
        } else {
            cols.replicate
                .map(|i| rec.get(i).unwrap_or("").to_string())
                .filter(|s| !s.is_empty())
        };
        let idx = [cols.drug_a, cols.drug_b, cols.unit_a, cols.unit_b];
        for (slot, col) in block.text.iter_mut().zip(idx) {
            let Some(col) = col else { continue };
            let found = rec.get(col).unwrap_or("").to_string();
            match &slot.1 {
                None => slot.1 = Some((found, at.clone())),
                Some((expected, _)) if *expected != found => {
                    return Err(mismatch(slot.0, at, expected.clone(), found));
                }
                Some(_) => {}
            }
        }
        block
            .raw
            .push(rec.get(cols.response).unwrap_or("").to_string());
        block.wells.push(Well {
            dose_a,
            dose_b,
            response,
            replicate,
        });
        block.locs.push(at);
    }
    if blocks.is_empty() {
        return Err(PlateError::Empty);
    }
    blocks
        .into_iter()
        .map(|b| finish_block(b, name, opts, percent))
        .collect()
}

fn finish_block(
    b: RawBlock,
    name: &str,
    opts: &CsvOptions,
    percent: bool,
) -> Result<Block, PlateError> {
    let label =
        b.id.as_ref()
            .map(|id| format!(" block {id}"))
            .unwrap_or_default();
    check_control(&b.wells, &b.raw, name, &label, percent)?;
    validate(&b.wells, &b.locs, &b.raw)?;
    let [(_, name_a), (_, name_b), (_, unit_a), (_, unit_b)] = b.text;
    let pick_name = |arg: &Option<String>, col: Option<(String, Loc)>, default: &str| {
        arg.clone()
            .or(col.map(|c| c.0))
            .unwrap_or_else(|| default.to_string())
    };
    let pick_unit = |field: &'static str,
                     arg: &Option<String>,
                     col: Option<(String, Loc)>|
     -> Result<String, PlateError> {
        match (arg, col) {
            (Some(a), Some((c, at))) if *a != c => Err(mismatch(field, at, a.clone(), c)),
            (Some(a), _) => Ok(a.clone()),
            (None, Some((c, _))) => Ok(c),
            (None, None) => Ok(String::new()),
        }
    };
    let drug_a = DrugInfo::new(
        pick_name(&opts.drug_a, name_a, "A"),
        pick_unit("unit_a", &opts.unit_a, unit_a)?,
    );
    let drug_b = DrugInfo::new(
        pick_name(&opts.drug_b, name_b, "B"),
        pick_unit("unit_b", &opts.unit_b, unit_b)?,
    );
    Ok(Block {
        id: b.id,
        plate: Plate {
            drug_a,
            drug_b,
            wells: b.wells,
        },
    })
}

/// An untreated control far below 1 means the responses are inhibition, not viability:
/// say so before any single well trips a range check with a less helpful message.
fn check_control(
    wells: &[Well],
    raw: &[String],
    name: &str,
    block: &str,
    percent: bool,
) -> Result<(), PlateError> {
    let control: Vec<usize> = (0..wells.len())
        .filter(|&k| wells[k].dose_a == 0.0 && wells[k].dose_b == 0.0)
        .collect();
    if control.is_empty() {
        return Ok(());
    }
    let mean = control.iter().map(|&k| wells[k].response).sum::<f64>() / control.len() as f64;
    if !(mean.is_finite() && mean < 0.25) {
        return Ok(());
    }
    let top = raw
        .iter()
        .filter_map(|r| r.parse::<f64>().ok())
        .fold(f64::NEG_INFINITY, f64::max);
    let hint = if percent {
        "the responses look like viability, not percent inhibition: drop --percent-inhibition (and give viable fractions)".to_string()
    } else if top > 1.5 {
        format!("responses up to {top} look like percent inhibition: pass --percent-inhibition")
    } else {
        "the responses look like fraction inhibition: give 1 - value (viable fraction)".to_string()
    };
    Err(PlateError::LooksLikeInhibition {
        source_name: name.to_string(),
        block: block.to_string(),
        control: mean,
        hint,
    })
}

/// The plate of a one-block file, or an error naming the blocks.
fn one_block(mut blocks: Vec<Block>, source_name: &str) -> Result<Plate, PlateError> {
    if blocks.len() > 1 {
        return Err(PlateError::SeveralBlocks {
            source_name: source_name.to_string(),
            n: blocks.len(),
            names: block_names(&blocks),
        });
    }
    Ok(blocks.remove(0).plate)
}

fn block_names(blocks: &[Block]) -> String {
    let names: Vec<&str> = blocks.iter().filter_map(|b| b.id.as_deref()).collect();
    if names.len() > 5 {
        format!("{}, ...", names[..5].join(", "))
    } else {
        names.join(", ")
    }
}

fn mismatch(field: &'static str, at: Loc, expected: String, found: String) -> PlateError {
    if field.starts_with("unit") {
        PlateError::UnitMismatch {
            at,
            field,
            expected,
            found,
        }
    } else {
        PlateError::DrugMismatch {
            at,
            field,
            expected,
            found,
        }
    }
}

fn csv_error(name: &str, line: u64, e: csv::Error) -> PlateError {
    PlateError::Csv {
        at: Loc {
            source: name.to_string(),
            line,
        },
        message: e.to_string(),
    }
}

/// Checkerboard view of a plate: `doses_a[i]` x `doses_b[j]`, cell index `i * nb + j`.
/// `doses_a[0] == doses_b[0] == 0` is guaranteed, as is every single-agent cell.
#[derive(Debug, Clone)]
pub struct Grid {
    pub drug_a: DrugInfo,
    pub drug_b: DrugInfo,
    pub doses_a: Vec<f64>,
    pub doses_b: Vec<f64>,
    /// Replicate values per cell (empty when the cell was not measured).
    reps: Vec<Vec<f64>>,
    /// Mean response per cell; `None` when not measured.
    mean: Vec<Option<f64>>,
}

impl Grid {
    fn from_plate(plate: &Plate) -> Result<Grid, PlateError> {
        let doses_a = plate.doses_a();
        let doses_b = plate.doses_b();
        for (drug, doses, which, other) in [
            // Row = fixed dose_a; the row dose_a = 0 is drug B alone, and vice versa.
            (&plate.drug_b, &doses_a, "row", "dose_a"),
            (&plate.drug_a, &doses_b, "column", "dose_b"),
        ] {
            if doses.first() != Some(&0.0) {
                return Err(PlateError::MissingZeroDose {
                    drug: drug.name.clone(),
                    which,
                    other,
                });
            }
        }
        for (drug, doses) in [(&plate.drug_a, &doses_a), (&plate.drug_b, &doses_b)] {
            if doses.len() < MIN_DOSES {
                return Err(PlateError::TooFewDoses {
                    drug: drug.name.clone(),
                    found: doses.len(),
                    needed: MIN_DOSES,
                });
            }
        }
        let nb = doses_b.len();
        let mut reps = vec![Vec::new(); doses_a.len() * nb];
        for w in plate.wells() {
            // Both lookups succeed: the dose lists were built from these wells.
            if let (Some(i), Some(j)) = (index_of(&doses_a, w.dose_a), index_of(&doses_b, w.dose_b))
            {
                reps[i * nb + j].push(w.response);
            }
        }
        let grid = Grid::from_parts(
            plate.drug_a.clone(),
            plate.drug_b.clone(),
            doses_a,
            doses_b,
            reps,
        );
        for (i, &d) in grid.doses_a.iter().enumerate() {
            if grid.mean(i, 0).is_none() {
                return Err(missing(&grid.drug_a, d));
            }
        }
        for (j, &d) in grid.doses_b.iter().enumerate() {
            if grid.mean(0, j).is_none() {
                return Err(missing(&grid.drug_b, d));
            }
        }
        Ok(grid)
    }

    /// Assemble a grid from per-cell replicate values (used by the bootstrap, which
    /// resamples them). Means are recomputed here.
    pub(crate) fn from_parts(
        drug_a: DrugInfo,
        drug_b: DrugInfo,
        doses_a: Vec<f64>,
        doses_b: Vec<f64>,
        reps: Vec<Vec<f64>>,
    ) -> Grid {
        let mean = reps
            .iter()
            .map(|r| (!r.is_empty()).then(|| r.iter().sum::<f64>() / r.len() as f64))
            .collect();
        Grid {
            drug_a,
            drug_b,
            doses_a,
            doses_b,
            reps,
            mean,
        }
    }

    pub fn na(&self) -> usize {
        self.doses_a.len()
    }
    pub fn nb(&self) -> usize {
        self.doses_b.len()
    }
    /// Mean response at `(doses_a[i], doses_b[j])`, `None` if not measured.
    pub fn mean(&self, i: usize, j: usize) -> Option<f64> {
        self.mean[i * self.nb() + j]
    }
    /// Replicate values at a cell (empty if not measured).
    pub fn replicates(&self, i: usize, j: usize) -> &[f64] {
        &self.reps[i * self.nb() + j]
    }
    /// Largest replicate count of any cell (1 for a plate without replicates).
    pub fn max_replicates(&self) -> usize {
        self.reps.iter().map(Vec::len).max().unwrap_or(0)
    }
    /// Drug A alone: (dose, mean response) over the zero-dose column of B, zero included.
    pub fn single_a(&self) -> (Vec<f64>, Vec<f64>) {
        (0..self.na())
            .filter_map(|i| self.mean(i, 0).map(|m| (self.doses_a[i], m)))
            .unzip()
    }
    /// Drug B alone: (dose, mean response), zero included.
    pub fn single_b(&self) -> (Vec<f64>, Vec<f64>) {
        (0..self.nb())
            .filter_map(|j| self.mean(0, j).map(|m| (self.doses_b[j], m)))
            .unzip()
    }
    pub(crate) fn all_reps(&self) -> &[Vec<f64>] {
        &self.reps
    }
}

fn missing(drug: &DrugInfo, dose: f64) -> PlateError {
    PlateError::MissingSingleAgent {
        drug: drug.name.clone(),
        dose,
        unit: drug.unit.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str, opts: &CsvOptions) -> Result<Plate, PlateError> {
        Plate::from_csv_reader(text.as_bytes(), "t.csv", opts)
    }

    #[test]
    fn dose_key_merges_rounding_noise() {
        assert_eq!(dose_key(0.1 + 0.2), dose_key(0.3));
        assert_ne!(dose_key(0.3), dose_key(0.31));
        assert!(same_dose(0.1 + 0.2, 0.3));
        assert_eq!(index_of(&[0.0, 0.3, 1.0], 0.1 + 0.2), Some(1));
        assert_eq!(index_of(&[0.0, 0.3, 1.0], 0.5), None);
    }

    #[test]
    fn error_cites_file_line_and_value() {
        let e = csv(
            "dose_a,dose_b,response\n0,0,1\n1,0,abc\n",
            &Default::default(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("t.csv line 3"), "{msg}");
        assert!(msg.contains("abc"), "{msg}");
    }

    #[test]
    fn roundtrip_keeps_everything() {
        let p = Plate::new(
            DrugInfo::new("x", "nM"),
            DrugInfo::new("y", "uM"),
            vec![
                Well {
                    dose_a: 0.1,
                    dose_b: 0.0,
                    response: 0.912345678901,
                    replicate: Some("r1".into()),
                },
                Well {
                    dose_a: 0.0,
                    dose_b: 3.0,
                    response: 0.5,
                    replicate: Some("r1".into()),
                },
            ],
        )
        .unwrap();
        let mut buf = Vec::new();
        p.write_csv(&mut buf).unwrap();
        let q = csv(std::str::from_utf8(&buf).unwrap(), &Default::default()).unwrap();
        assert_eq!(p, q);
    }
}
