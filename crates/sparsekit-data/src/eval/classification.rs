//! Accuracy of a classifier's predictions: micro (over examples) and macro (over classes).

use serde::Serialize;

use crate::DataError;

/// Micro and macro accuracy of predicted class indices against the true ones.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Accuracy {
    /// Correct predictions / examples.
    pub micro: f64,
    /// Mean over the classes that occur in the truth of each class's recall (balanced
    /// accuracy); classes absent from the truth do not count.
    pub macro_: f64,
    /// Number of examples.
    pub n: usize,
}

impl Accuracy {
    /// Scores `predicted` against `truth` (same length, every index `< classes`). An empty
    /// input scores 0; mismatched lengths or an index out of range are
    /// [`DataError::Invalid`].
    ///
    /// ```
    /// use sparsekit_data::eval::classification::Accuracy;
    /// let a = Accuracy::of(&[0, 0, 0, 1], &[0, 0, 0, 0], 2).unwrap();
    /// assert_eq!(a.micro, 0.75);
    /// assert_eq!(a.macro_, 0.75); // class 1 never occurs in the truth
    /// let b = Accuracy::of(&[0, 0, 0, 0], &[0, 0, 0, 1], 2).unwrap();
    /// assert_eq!((b.micro, b.macro_), (0.75, 0.5));
    /// ```
    pub fn of(predicted: &[usize], truth: &[usize], classes: usize) -> Result<Self, DataError> {
        if predicted.len() != truth.len() {
            return Err(DataError::Invalid(format!(
                "{} predictions for {} labels",
                predicted.len(),
                truth.len()
            )));
        }
        if let Some(&c) = predicted.iter().chain(truth).find(|&&c| c >= classes) {
            return Err(DataError::Invalid(format!(
                "class {c} out of range for {classes} classes"
            )));
        }
        let mut seen = vec![0usize; classes];
        let mut hit = vec![0usize; classes];
        for (&p, &t) in predicted.iter().zip(truth) {
            seen[t] += 1;
            hit[t] += usize::from(p == t);
        }
        let n = truth.len();
        let correct: usize = hit.iter().sum();
        let present: Vec<f64> = seen
            .iter()
            .zip(&hit)
            .filter(|(&s, _)| s > 0)
            .map(|(&s, &h)| h as f64 / s as f64)
            .collect();
        Ok(Accuracy {
            micro: if n == 0 {
                0.0
            } else {
                correct as f64 / n as f64
            },
            macro_: if present.is_empty() {
                0.0
            } else {
                present.iter().sum::<f64>() / present.len() as f64
            },
            n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_and_macro() {
        // Class 0: 3/4 right, class 1: 0/1, class 2: 1/1 → micro 4/6, macro (0.75+0+1)/3.
        let a = Accuracy::of(&[0, 0, 0, 1, 0, 2], &[0, 0, 0, 0, 1, 2], 3).unwrap();
        assert!((a.micro - 4.0 / 6.0).abs() < 1e-12);
        assert!((a.macro_ - 1.75 / 3.0).abs() < 1e-12);
        assert_eq!(a.n, 6);
    }

    #[test]
    fn empty_and_malformed() {
        let e = Accuracy::of(&[], &[], 3).unwrap();
        assert_eq!((e.micro, e.macro_, e.n), (0.0, 0.0, 0));
        assert!(Accuracy::of(&[0], &[0, 1], 2).is_err());
        assert!(Accuracy::of(&[2], &[0], 2).is_err());
        assert!(Accuracy::of(&[0], &[5], 2).is_err());
        assert!(Accuracy::of(&[0], &[0], 0).is_err());
    }
}
