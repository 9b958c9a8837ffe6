//! The conv/linear layer engine against the golden engine: real layers of committed models, fed
//! the golden engine's own input tensor, compiled by `lutna_core::accel`, run in RustHDL, and
//! every output byte (or logit) compared. Lane modes are mixed across the layers so all three
//! table rules run; the layers cover 3x3 padded convs on 32x32 maps, channels with more nonzero
//! weights than one batch (partial sums), 8x8 maps (drain spacing), the logits layer, stride 2
//! and i8 outputs (ResNet-18).

use lutna_core::accel::{compile, compile_conv, AccelConfig, MapPlace, DESCRIPTOR_WORDS};
use lutna_core::arith::Requant;
use lutna_core::arith::Scheme;
use lutna_core::engine::{Activation, Engine};
use lutna_core::model::{Conv, Layer, Model, Op, SparseWeights, TensorInfo, TensorKind};
use lutna_core::plan::Plan;
use lutna_hw::engine::{LayerEngine, RESIDENT_PARAM_BITS};
use lutna_hw::sim::{tick, XorShift};
use lutna_tests::{model, sample};

/// Flattened CHW values of a golden tensor (u8, i8 as i32, or logits).
fn values(a: &Activation) -> Vec<i32> {
    match a {
        Activation::U8(x) => x.iter().map(|&v| v as i32).collect(),
        Activation::I8(x) => x.iter().map(|&v| v as i32).collect(),
        Activation::Logits(l) => l.clone(),
    }
}

/// Runs layer `index` of `model` under `plan` on image `image` of the sample set; returns
/// (engine cycles, issue cycles).
fn check_layer<const P: usize>(
    model: &Model,
    plan: &Plan,
    index: usize,
    image: usize,
) -> (u64, u64) {
    let data = sample();
    check_layer_on::<P>(model, plan, index, data.image(image)).unwrap()
}

/// Runs layer `index` in the engine on the golden engine's input tensor for `image` and
/// compares every output; Err names the first difference.
fn check_layer_on<const P: usize>(
    model: &Model,
    plan: &Plan,
    index: usize,
    image: &[u8],
) -> Result<(u64, u64), String> {
    let golden = Engine::new(model, plan).unwrap();
    let dumps = golden.run_dumps(image);
    let layer = &model.layers[index];
    let conv = match &layer.op {
        Op::Conv(c) | Op::Linear(c) => c,
        _ => panic!("layer {index} is not a conv"),
    };
    let scheme = plan.resolve(model).unwrap()[index].unwrap();
    let input = &dumps[layer.inputs[0]];
    let out_info = &model.tensors[index + 1];
    let cfg = AccelConfig::new(P).unwrap();
    let in_shape = model.tensors[layer.inputs[0]].shape;
    let in_place = MapPlace::new(&cfg, 0, in_shape);
    let out_base = if out_info.kind == TensorKind::Logits {
        0 // the logits memory
    } else {
        in_place.words()
    };
    let out_place = MapPlace::new(&cfg, out_base, out_info.shape);
    let job = compile_conv(
        &cfg,
        conv,
        scheme,
        &in_place,
        &out_place,
        out_info.kind,
        2 * DESCRIPTOR_WORDS,
    )
    .unwrap();
    let bytes: Vec<u8> = values(input).iter().map(|&v| v as u8).collect();
    let (address, image) = in_place.linear(&cfg, &bytes);
    let mut activations = vec![0u8; address as usize];
    activations.extend(image);

    let mut params = job.config.descriptor().to_vec();
    params.extend([0u16; DESCRIPTOR_WORDS]);
    params.extend(&job.params);
    let mut uut = LayerEngine::<P, RESIDENT_PARAM_BITS>::with_memories(&activations, &params);
    run_program(&mut uut);
    let want = values(&dumps[index + 1]);
    let [c, h, w] = out_info.shape;
    let mut got = Vec::with_capacity(want.len());
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                if out_info.kind == TensorKind::Logits {
                    uut.ext_addr.next = (ch as u64).into();
                    tick(&mut uut, |u| &mut u.clock);
                    got.push(uut.ext_logit.val().index() as u32 as i32);
                } else {
                    uut.ext_addr.next = (out_place.byte_address(&cfg, ch, y, x) as u64).into();
                    tick(&mut uut, |u| &mut u.clock);
                    let v = uut.ext_byte.val().index() as u8;
                    got.push(if out_info.kind == TensorKind::I8 {
                        v as i8 as i32
                    } else {
                        v as i32
                    });
                }
            }
        }
    }
    let first_bad = got.iter().zip(&want).position(|(g, w)| g != w);
    if let Some(i) = first_bad {
        let bad: Vec<usize> = (0..got.len()).filter(|&k| got[k] != want[k]).collect();
        eprintln!(
            "{} of {} differ; first ones: {:?}",
            bad.len(),
            got.len(),
            bad.iter()
                .take(12)
                .map(|&k| (k / (h * w), k / w % h, k % w, got[k], want[k]))
                .collect::<Vec<_>>()
        );
        return Err(format!(
            "layer {index} ({}, {scheme}) differs first at element {i} (c {}, y {}, x {}): \
             engine {} golden {}",
            layer.name,
            i / (h * w),
            i / w % h,
            i % w,
            got[i],
            want[i]
        ));
    }
    Ok(layer_counters(&mut uut, 0))
}

/// Starts the program in parameter memory and steps until the engine is idle.
/// Returns the cycles from start to idle.
fn run_program<const P: usize>(uut: &mut LayerEngine<P, RESIDENT_PARAM_BITS>) -> u64 {
    uut.start.next = true;
    tick(uut, |u| &mut u.clock);
    uut.start.next = false;
    let mut cycles = 1u64;
    while uut.busy.val() {
        tick(uut, |u| &mut u.clock);
        cycles += 1;
        assert!(cycles < 20_000_000, "engine did not finish its program");
    }
    cycles
}

/// (cycles, issue cycles) the engine recorded for layer `k` of its last program.
fn layer_counters<const P: usize>(
    uut: &mut LayerEngine<P, RESIDENT_PARAM_BITS>,
    k: usize,
) -> (u64, u64) {
    uut.ext_addr.next = (k as u64).into();
    tick(uut, |u| &mut u.clock);
    (
        uut.ext_cycles.val().index() as u64,
        uut.ext_issues.val().index() as u64,
    )
}

fn mixed_plan(model: &Model) -> Plan {
    Plan::rotating(model, &[Scheme::LUTNA, Scheme::ALUTNA_C, Scheme::ALUTNA])
}

#[test]
fn icebreaker_layers_match_the_golden_engine() {
    let model = model("icebreaker-w0.5.lutna");
    let plan = mixed_plan(&model);
    let stats = model.layer_stats();
    for (index, image) in [(0, 3), (1, 0), (4, 1), (7, 2), (10, 5)] {
        let (cycles, issued) = check_layer::<8>(&model, &plan, index, image);
        let macs = stats[index].macs_pruned;
        println!(
            "layer {index} {}: {cycles} cycles, {issued} issue cycles, {macs} nonzero MACs, \
             lane use {:.1} % of all cycles",
            stats[index].name,
            100.0 * macs as f64 / (8 * cycles) as f64
        );
    }
}

#[test]
fn resnet18_stride2_and_i8_layers_match_the_golden_engine() {
    let model = model("resnet18-w0.25.lutna");
    let plan = mixed_plan(&model);
    let convs: Vec<usize> = model
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.op.conv().map(|c| (i, c)))
        .filter(|(i, c)| c.stride[1] == 2 || model.tensors[i + 1].kind == TensorKind::I8)
        .map(|(i, _)| i)
        .collect();
    let stride2 = convs
        .iter()
        .copied()
        .filter(|&i| model.layers[i].op.conv().unwrap().stride[1] == 2)
        .take(2);
    let i8_out = convs
        .iter()
        .copied()
        .find(|&i| model.tensors[i + 1].kind == TensorKind::I8)
        .unwrap();
    let picked: Vec<usize> = stride2.chain([i8_out]).collect();
    assert!(picked.len() == 3, "resnet18 has stride-2 and i8 layers");
    for index in picked {
        let (cycles, _) = check_layer::<8>(&model, &plan, index, 7);
        println!(
            "layer {index} {}: {cycles} cycles",
            model.layers[index].name
        );
    }
}

/// A one-layer model around a hand-made convolution, so the golden engine is the oracle.
fn one_conv_model(conv: Conv, in_shape: [usize; 3], out_shape: [usize; 3]) -> Model {
    let info = |shape| TensorInfo {
        shape,
        scale: 1.0,
        kind: TensorKind::U8,
    };
    Model {
        name: "hand-made".into(),
        layers: vec![Layer {
            name: "conv".into(),
            inputs: vec![0],
            op: Op::Conv(conv),
        }],
        tensors: vec![info(in_shape), info(out_shape)],
    }
}

#[test]
fn hand_made_convs_match_the_golden_engine() {
    // Shapes the zoo does not stress: channels of exactly one batch, one tap over, a single
    // output channel, unpadded 3x3, maps narrower and wider than the lanes, empty channels.
    let mut rng = XorShift(7);
    let cases = [
        // (in channels, kernel, pad, nonzero taps of channel 0, width, out channels)
        (9, 1, 0, 9, 8, 2),
        (9, 1, 0, 8, 8, 2),
        (9, 1, 0, 9, 8, 1),
        (9, 1, 0, 9, 16, 2),
        (3, 3, 1, 12, 16, 3),
        (3, 3, 1, 20, 5, 4),
        (3, 3, 0, 27, 11, 3),
        (2, 3, 1, 0, 8, 2),
    ];
    for (case, &(cin, k, pad, nonzero, w, cout)) in cases.iter().enumerate() {
        let taps = cin * k * k;
        let rows: Vec<Vec<i16>> = (0..cout)
            .map(|o| {
                let mut row = vec![0i16; taps];
                for i in 0..(nonzero + o).min(taps) {
                    row[(i * 7) % taps] = (rng.next_u64() % 511) as i16 - 255;
                }
                row
            })
            .collect();
        let h = 3;
        let (oh, ow) = (h + 2 * pad + 1 - k, w + 2 * pad + 1 - k);
        let conv = Conv {
            in_ch: cin,
            out_ch: cout,
            kernel: [k, k],
            stride: [1, 1],
            pad: [pad; 4],
            weights: SparseWeights::from_dense(&rows),
            weight_scale: vec![1.0; cout],
            bias: (0..cout).map(|_| rng.next_u64() as i32 >> 18).collect(),
            requant: vec![Requant { mult: 3, shift: 8 }; cout],
        };
        let model = one_conv_model(conv, [cin, h, w], [cout, oh, ow]);
        let image: Vec<u8> = (0..cin * h * w).map(|_| rng.next_u64() as u8).collect();
        for scheme in [Scheme::LUTNA, Scheme::ALUTNA, Scheme::ALUTNA_C] {
            let plan = Plan::uniform(scheme);
            check_layer_on::<8>(&model, &plan, 0, &image)
                .unwrap_or_else(|e| panic!("case {case} {scheme}: {e}"));
        }
    }
}

/// Runs whole networks: compiles the model, loads the image into its place, runs the program and
/// compares the logits with the golden engine's, for each image; checks the cycle model against
/// the engine's counters. Returns per-layer (cycles, issue cycles) of the last image and the
/// cycles per image.
fn check_network<const P: usize>(
    model: &Model,
    plan: &Plan,
    images: &[usize],
) -> (Vec<(u64, u64)>, u64) {
    let data = sample();
    let golden = Engine::new(model, plan).unwrap();
    let cfg = AccelConfig::new(P).unwrap();
    let program = compile(&cfg, model, plan).unwrap();
    let mut counters = vec![];
    let mut per_image = 0;
    for &i in images {
        let (address, image) = program.places[0].linear(&cfg, data.image(i));
        let mut activations = vec![0u8; address as usize];
        activations.extend(image);
        let mut uut =
            LayerEngine::<P, RESIDENT_PARAM_BITS>::with_memories(&activations, &program.params);
        per_image = run_program(&mut uut);
        assert_eq!(
            uut.layers_done.val().index(),
            program.descriptors(),
            "engine ran a different number of layers"
        );
        let want = golden.run(data.image(i));
        let mut got = vec![];
        for k in 0..want.len() {
            uut.ext_addr.next = (k as u64).into();
            tick(&mut uut, |u| &mut u.clock);
            got.push(uut.ext_logit.val().index() as u32 as i32);
        }
        assert_eq!(got, want, "{} image {i}: logits differ", model.name);
        counters = (0..program.descriptors())
            .map(|k| layer_counters(&mut uut, k))
            .collect();
    }
    // The cycle model predicts every layer from the compiled program alone.
    let (model_layers, model_total) = program.cycle_model();
    println!(
        "  whole image: RTL {per_image} cycles, model {model_total} ({:+.2} %)",
        100.0 * (model_total as f64 / per_image as f64 - 1.0)
    );
    assert!((model_total as f64 / per_image as f64 - 1.0).abs() < 0.02);
    for (k, (rtl, m)) in counters.iter().zip(&model_layers).enumerate() {
        let err = m.cycles as f64 / rtl.0 as f64 - 1.0;
        println!(
            "  layer {k}: RTL {} cycles ({} issues), model {} ({} issues): {:+.2} %",
            rtl.0,
            rtl.1,
            m.cycles,
            m.issues,
            100.0 * err
        );
        assert_eq!(
            rtl.1, m.issues,
            "layer {k}: issue cycles differ from the model"
        );
        // The issue asks for 10 %; the model is written from the RTL, so hold it to 2 %.
        assert!(
            err.abs() < 0.02,
            "layer {k}: cycle model off by more than 2 %"
        );
    }
    (counters, per_image)
}

#[test]
fn icebreaker_network_matches_the_golden_engine() {
    let model = model("icebreaker-w0.5.lutna");
    let plan = mixed_plan(&model);
    let (counters, per_image) = check_network::<8>(&model, &plan, &[0, 1]);
    // Lane utilization on the conv layers: nonzero MACs / (P x the layers' cycles).
    let stats = model.layer_stats();
    let convs: Vec<_> = stats.iter().filter(|s| s.kind == "conv").collect();
    let macs: u64 = convs.iter().map(|s| s.macs_pruned).sum();
    let cycles: u64 = counters
        .iter()
        .zip(stats.iter().filter(|s| s.kind != "concat"))
        .filter(|(_, s)| s.kind == "conv")
        .map(|(c, _)| c.0)
        .sum();
    let use_ = macs as f64 / (8 * cycles) as f64;
    println!(
        "icebreaker-w0.5, mixed plan: {per_image} cycles per image; conv layers {cycles} cycles \
         for {macs} nonzero MACs: lane utilization {:.1} %",
        100.0 * use_
    );
    assert!(use_ >= 0.70, "conv lane utilization below 70 %");
}

#[test]
fn icebreaker_network_on_four_lanes_matches_the_golden_engine() {
    // Four lanes is the build whose memories fit the UP5K: the 64 KiB of activations shared by
    // four banks of 16 K words, windows of which the lanes use half, stride 2 on two lanes.
    let model = model("icebreaker-w0.5.lutna");
    let plan = mixed_plan(&model);
    let (_, per_image) = check_network::<4>(&model, &plan, &[3]);
    println!("icebreaker-w0.5 on 4 lanes, mixed plan: {per_image} cycles per image");
}

#[test]
fn resnet18_network_matches_the_golden_engine() {
    let model = model("resnet18-w0.25.lutna");
    let plan = mixed_plan(&model);
    let (_, per_image) = check_network::<8>(&model, &plan, &[4]);
    println!("resnet18-w0.25, mixed plan: {per_image} cycles per image");
}
