//! Block-sparse products on Cube: `Y = A·X` and `Y = X·Aᵀ` for a CSR pattern tagged
//! [`Structure::Block`](crate::Structure) (aligned `r × c` blocks, every entry of a kept block
//! stored; the arrays stay CSR).
//!
//! One cube per (block row, tile of the dense extent: output columns of `A·X`, batch rows of
//! `X·Aᵀ`); unit `(a, t)` owns row `a` of the block row and column `t` of the tile. For each kept
//! block the cube first stages the `c × tile` slice of the dense operand that the block
//! multiplies in shared memory — loaded from global memory once per cube instead of once per row
//! of the block, `r`× less traffic than the CSR row split — then every unit does `c`
//! multiply-adds with its own row's `c` stored values (consecutive in CSR order: all rows of a
//! block row store the same blocks, in the same order). No atomics, no subgroup operations; the
//! sums run in a fixed order, so results do not depend on the launch shape.
//!
//! The tile size keeps a cube within WebGPU's guaranteed limits (256 units, 16 KiB of shared
//! memory): `tile = min(256 / r, 4096 / c)`, rounded down to a power of two and capped by the
//! dense extent. Shapes outside those limits (or grids past 65535 cubes per dimension) return
//! `None` and the caller runs the CSR kernels.

use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::dims2;

mod kernels {
    use cubecl::prelude::*;

    /// See the [module docs](super). `transposed`: `out = X·Aᵀ` (`X` batch × k, `out`
    /// batch × m); else `out = A·X` (`X` k × n, `out` m × n). `out` contiguous.
    #[cube(launch)]
    #[allow(clippy::too_many_arguments)]
    pub fn bsr_spmm<F: Float, I: Int>(
        row_ptr: &Tensor<I>,
        col_idx: &Tensor<I>,
        values: &Tensor<F>,
        x: &Tensor<F>,
        out: &mut Tensor<F>,
        #[comptime] r: usize,
        #[comptime] c: usize,
        #[comptime] tile: usize,
        #[comptime] transposed: bool,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        let mut staged = Shared::new_slice(c * tile);
        let block_row = CUBE_POS_X as usize;
        let t0 = CUBE_POS_Y as usize * tile;
        let u = UNIT_POS_X as usize;
        let a = u / tile;
        let t = u % tile;
        let mut width = out.shape(1);
        if transposed {
            width = out.shape(0);
        }
        let row = block_row * r + a;
        let first = usize::cast_from(row_ptr[block_row * r]);
        let blocks = (usize::cast_from(row_ptr[block_row * r + 1]) - first) / c;
        let mine = usize::cast_from(row_ptr[row]);
        let mut acc = F::new(0.0_f32);
        // `blocks` is the same for every unit of the cube: the barriers are uniform.
        for b in 0..blocks {
            let col0 = usize::cast_from(col_idx[first + b * c]);
            let mut q = u;
            while q < c * tile {
                let qc = q / tile;
                let d = t0 + q % tile;
                let mut v = F::new(0.0_f32);
                if d < width {
                    if transposed {
                        v = x[d * x.stride(0) + (col0 + qc) * x.stride(1)];
                    } else {
                        v = x[(col0 + qc) * x.stride(0) + d * x.stride(1)];
                    }
                }
                staged[q] = v;
                q += r * tile;
            }
            sync_cube();
            for qc in 0..c {
                acc += values[mine + b * c + qc] * staged[qc * tile + t];
            }
            sync_cube();
        }
        let d = t0 + t;
        let stride = out.shape(1);
        if d < width {
            if transposed {
                out[d * stride + row] = acc;
            } else {
                out[row * stride + d] = acc;
            }
        }
    }
}

/// Units per cube and `f32`s of shared memory a cube may use (WebGPU's guaranteed minimums).
const MAX_UNITS: usize = 256;
const MAX_SHARED: usize = 4096;

/// The tile size for `r × c` blocks and a dense extent `width`, or `None` when no tile fits.
pub(super) fn tile_for(r: usize, c: usize, width: usize) -> Option<usize> {
    if r == 0 || c == 0 || r > MAX_UNITS || c > MAX_SHARED {
        return None;
    }
    let t = (MAX_UNITS / r).min(MAX_SHARED / c);
    // Largest power of two ≤ t, then no larger than the extent needs.
    let t = 1usize << (usize::BITS - 1 - t.leading_zeros());
    Some(t.min(width.next_power_of_two().max(1)))
}

/// Runs the block kernel into `out` (contiguous, every element written); `false` when the
/// shape is outside the kernel's limits (nothing launched).
#[allow(clippy::too_many_arguments)]
pub(super) fn bsr_spmm(
    rp: &CubeTensor,
    ci: &CubeTensor,
    v: &CubeTensor,
    x: &CubeTensor,
    out: &CubeTensor,
    (r, c): (usize, usize),
    transposed: bool,
    dtypes: [ElemType; 2],
) -> bool {
    let (o0, o1) = dims2(out, "Y");
    let (rows, width) = if transposed { (o1, o0) } else { (o0, o1) };
    let Some(tile) = tile_for(r, c, width) else {
        return false;
    };
    if rows % r != 0 {
        return false;
    }
    let (cx, cy) = (rows / r, width.div_ceil(tile));
    if cx == 0 || cy == 0 || cx > 65_535 || cy > 65_535 {
        return false;
    }
    kernels::bsr_spmm::launch(
        &out.client,
        CubeCount::Static(cx as u32, cy as u32, 1),
        CubeDim::new_1d((r * tile) as u32),
        rp.clone().into_tensor_arg(),
        ci.clone().into_tensor_arg(),
        v.clone().into_tensor_arg(),
        x.clone().into_tensor_arg(),
        out.clone().into_tensor_arg(),
        r,
        c,
        tile,
        transposed,
        dtypes,
    );
    true
}

#[cfg(test)]
mod tests {
    use super::tile_for;

    #[test]
    fn tiles_stay_within_webgpu_limits() {
        for (r, c, w) in [
            (1, 1, 1000),
            (2, 3, 5),
            (16, 16, 64),
            (4, 64, 100),
            (256, 1, 9),
        ] {
            let t = tile_for(r, c, w).unwrap();
            assert!(
                t.is_power_of_two() && r * t <= 256 && c * t <= 4096,
                "{r}×{c}: {t}"
            );
            assert!(t <= w.next_power_of_two());
        }
        assert_eq!(tile_for(16, 16, 1000), Some(16));
        assert_eq!(tile_for(2, 2, 1000), Some(128));
        assert_eq!(tile_for(2, 2, 5), Some(8));
        assert_eq!(tile_for(512, 1, 10), None);
        assert_eq!(tile_for(1, 8192, 10), None);
        assert_eq!(tile_for(0, 2, 10), None);
    }
}
