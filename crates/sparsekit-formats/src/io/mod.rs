//! File I/O. So far: NumPy `.npy` arrays ([`npy`]), the building block of the SciPy `.npz`
//! reader. Still to come: `npz`, `mtx`, `safetensors`.
pub mod npy;
