"""Every backbone name users can pick, one line each. Importing this module fills BACKBONES."""

from cnnlab.models.backbones import BACKBONES, Backbone
from cnnlab.models.lenet import LeNet5
from cnnlab.models.simple_cnn import SimpleCNN
from cnnlab.models.textcnn import build_textcnn, check_textcnn
from cnnlab.models.timm_classifiers import build_timm_classifier
from cnnlab.models.torchvision_classifiers import build_torchvision_classifier, torchvision_classifier

BACKBONES.add("simple_cnn", Backbone(classifier=SimpleCNN))
BACKBONES.add("lenet5", Backbone(classifier=LeNet5, min_size=LeNet5.min_size))
# Minimum sides: AlexNet's strided stem and three 3x3/2 pools need 63 px; VGG's five 2x2 pools need 32.
BACKBONES.add("alexnet", Backbone(classifier=torchvision_classifier("alexnet"), min_size=63, weights="torchvision"))
# Names shared with smp's encoders serve segmentation too.
for _vgg in ("vgg11", "vgg11_bn", "vgg16", "vgg16_bn"):
    BACKBONES.add(
        _vgg, Backbone(classifier=torchvision_classifier(_vgg), min_size=32, weights="torchvision", smp_encoder=_vgg)
    )
for _name in ("resnet18", "resnet34", "resnet50"):
    _entry = Backbone(
        classifier=torchvision_classifier(_name), weights="torchvision", smp_encoder=_name, detector=_name
    )
    BACKBONES.add(_name, _entry)
BACKBONES.add(
    "mobilenet_v2",
    Backbone(classifier=torchvision_classifier("mobilenet_v2"), weights="torchvision", smp_encoder="mobilenet_v2"),
)
# Detection's MobileNet: torchvision's FPN builder and SSDlite take V3-Large.
BACKBONES.add(
    "mobilenet_v3_large",
    Backbone(
        classifier=torchvision_classifier("mobilenet_v3_large"), weights="torchvision", detector="mobilenet_v3_large"
    ),
)
_efficientnet = Backbone(
    classifier=torchvision_classifier("efficientnet_b0"), weights="torchvision", smp_encoder="efficientnet-b0"
)
BACKBONES.add("efficientnet-b0", _efficientnet)
# Passthroughs: any model of the library by backbone.model; 32 px keeps their strided stems above 1x1.
BACKBONES.add("torchvision", Backbone(classifier=build_torchvision_classifier, min_size=32, weights="torchvision"))
# smp wraps any timm model as a "tu-" (timm universal) encoder.
BACKBONES.add(
    "timm",
    Backbone(classifier=build_timm_classifier, min_size=32, weights="timm", smp_encoder=lambda s: f"tu-{s['model']}"),
)
# Sentences: Kim (2014)'s CNN over word embeddings.
BACKBONES.add("textcnn", Backbone(text=build_textcnn, check=check_textcnn))
