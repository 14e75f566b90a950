"""Every backbone name users can pick, one entry each: what it builds for each task. Importing this module fills
BACKBONES."""

from cnnlab.models.backbones import BACKBONES, Backbone
from cnnlab.models.lenet import LeNet5
from cnnlab.models.mlp import MLP
from cnnlab.models.simple_cnn import SimpleCNN
from cnnlab.models.textcnn import build_textcnn, check_textcnn
from cnnlab.models.timm_classifiers import build_timm_classifier
from cnnlab.models.torchvision_classifiers import build_torchvision_classifier, torchvision_classifier

BACKBONES.add("simple_cnn", Backbone({"classification": SimpleCNN}))
# The fully connected baseline the CNNs are measured against (scripts/cnn_vs_mlp.py).
BACKBONES.add("mlp", Backbone({"classification": MLP}))
BACKBONES.add("lenet5", Backbone({"classification": LeNet5}, min_size=LeNet5.min_size))
# Minimum sides: AlexNet's strided stem and three 3x3/2 pools need 63 px; VGG's five 2x2 pools need 32.
BACKBONES.add("alexnet", Backbone({"classification": torchvision_classifier("alexnet")}, min_size=63,
                                  weights="torchvision"))  # fmt: skip
# Names shared with smp's encoders serve segmentation too; ResNets also feed detectors' feature pyramids.
for _vgg in ("vgg11", "vgg11_bn", "vgg16", "vgg16_bn"):
    BACKBONES.add(_vgg, Backbone({"classification": torchvision_classifier(_vgg), "segmentation": _vgg}, min_size=32,
                                 weights="torchvision"))  # fmt: skip
for _name in ("resnet18", "resnet34", "resnet50"):
    BACKBONES.add(_name, Backbone({"classification": torchvision_classifier(_name), "segmentation": _name,
                                   "detection": _name}, weights="torchvision"))  # fmt: skip
BACKBONES.add("mobilenet_v2", Backbone({"classification": torchvision_classifier("mobilenet_v2"),
                                        "segmentation": "mobilenet_v2"}, weights="torchvision"))  # fmt: skip
# Detection's MobileNet: torchvision's FPN builder and SSDlite take V3-Large.
BACKBONES.add("mobilenet_v3_large", Backbone({"classification": torchvision_classifier("mobilenet_v3_large"),
                                              "detection": "mobilenet_v3_large"}, weights="torchvision"))  # fmt: skip
BACKBONES.add("efficientnet-b0", Backbone({"classification": torchvision_classifier("efficientnet_b0"),
                                           "segmentation": "efficientnet-b0"}, weights="torchvision"))  # fmt: skip
# Passthroughs: any model of the library by backbone.model; 32 px keeps their strided stems above 1x1.
BACKBONES.add("torchvision", Backbone({"classification": build_torchvision_classifier}, min_size=32,
                                      weights="torchvision"))  # fmt: skip
# smp wraps any timm model as a "tu-" (timm universal) encoder.
BACKBONES.add("timm", Backbone({"classification": build_timm_classifier, "segmentation": lambda s: f"tu-{s['model']}"},
                               min_size=32, weights="timm"))  # fmt: skip
# Sentences: Kim (2014)'s CNN over word embeddings.
BACKBONES.add("textcnn", Backbone({"text": build_textcnn}, check=check_textcnn))
